"""Holds the active model and swaps it when the registry alias moves.

Loading happens in a background thread; the new model replaces the old one in
a single reference assignment, so a request sees either the old or the new
model, never half of each. A failed load keeps the old model serving.

The process never imports MLflow: the alias is read through the store's REST or
SQL interface with a fresh connection per check (so a registry that was down or
replaced is picked up again), a new version is downloaded by a child process
(model.registry_watch), and failed checks back off up to ``MAX_BACKOFF`` times the
poll interval.
"""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from model.loading import LoadedModel, load_cached, load_last_known
from model.registry_watch import alias_version, fetch_in_child
from model.settings import get_settings

log = logging.getLogger("webcare.model")
MAX_BACKOFF = 8


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
        self._failures = 0
        self.on_swap: Callable[[LoadedModel], None] | None = None
        if self.cache is None:
            self.cache = get_settings().model_cache_dir()

    def check(self) -> bool:
        """Load the alias's version if it differs from the active one; True if swapped."""
        with self._lock:
            try:
                return self._check()
            finally:
                self.last_check = datetime.now(UTC)

    def _check(self) -> bool:
        try:
            version = alias_version(get_settings().resolved_tracking_uri(), self.name, self.alias)
            if version is None:
                raise RuntimeError(f"alias {self.alias!r} of {self.name!r} is not set")
            if self.current is not None and self.current.version == version:
                self._failures = 0
                self.last_error = None
                return False
            assert self.cache is not None
            loaded = load_cached(self.name, version, self.cache)
            if loaded is None:
                fetch_in_child(self.name, version, self.cache)
                loaded = load_cached(self.name, version, self.cache)
            if loaded is None:
                raise RuntimeError(f"version {version} is not a webcare-triage model")
        except Exception as exc:  # keep serving whatever we have
            self._failures += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.error("model check failed", extra={"error": self.last_error})
            return False
        self._failures = 0
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
        while not self._stop.wait(self.poll_seconds * min(2**self._failures, MAX_BACKOFF)):
            self.check()

    def start(self) -> None:
        """Serve the last known model at once (if any), then check the registry and poll."""
        if self.cache is not None and self.alias == "champion":
            known = load_last_known(self.name, self.cache)
            if known is not None:
                self._activate(known)

        def run() -> None:
            self.check()
            # the model adds many long-lived objects; without freezing them every full
            # GC walks them all and stalls requests
            gc.freeze()
            if self.poll_seconds > 0:
                self._poll()

        self._thread = threading.Thread(target=run, name="model-manager", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
