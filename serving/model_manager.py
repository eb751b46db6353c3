"""Holds the active model and swaps it when the registry alias moves.

Loading happens in a background thread; the new model replaces the old one in
a single reference assignment, so a request sees either the old or the new
model, never half of each. A failed load keeps the old model serving.
"""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from model.loading import LoadedModel, load_last_known, load_version, resolve_alias
from model.settings import configure_mlflow

log = logging.getLogger("webcare.model")


class ModelManager:
    def __init__(self, name: str, alias: str, poll_seconds: float, cache: Path | None = None) -> None:
        self.name = name
        self.cache = cache
        self.alias = alias
        self.poll_seconds = poll_seconds
        self.current: LoadedModel | None = None
        self.last_error: str | None = None
        self.last_check: datetime | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.on_swap: Callable[[LoadedModel], None] | None = None

    def check(self) -> bool:
        """Load the alias's version if it differs from the active one; True if swapped."""
        with self._lock:
            try:
                return self._check()
            finally:
                self.last_check = datetime.now(UTC)

    def _check(self) -> bool:
        try:
            version = resolve_alias(self.name, self.alias)
            if self.current is not None and self.current.version == version:
                return False
            loaded = load_version(self.name, version, self.cache, remember=True)
        except Exception as exc:  # keep serving whatever we have
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.error("model load failed", extra={"error": self.last_error})
            return False
        self._activate(loaded)
        return True

    def _activate(self, loaded: LoadedModel) -> None:
        previous = self.current.version if self.current else None
        self.current = loaded  # one reference assignment: requests see old or new, never a mix
        self.last_error = None
        if self.on_swap is not None:
            self.on_swap(loaded)
        log.info("model active", extra={"model_version": loaded.version, "previous": previous})

    def _poll(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            self.check()

    def start(self) -> None:
        """Serve the last known model at once (if any), then check the registry and poll."""
        if self.cache is not None and self.alias == "champion":
            known = load_last_known(self.name, self.cache)
            if known is not None:
                self._activate(known)

        def run() -> None:
            configure_mlflow()
            self.check()
            # MLflow and the model add ~10^6 long-lived objects; without freezing them
            # every full GC walks them all and stalls requests for ~100 ms
            gc.freeze()  # imports MLflow and asks the registry: may take seconds
            if self.poll_seconds > 0:
                self._poll()

        self._thread = threading.Thread(target=run, name="model-manager", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
