"""What every family shares when it turns rows into model inputs and stores an artefact.

Its own module so that the families (``training.families``, ``training.transformer``)
depend on it and not on each other.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path

from model.base import model_input
from model.dataset import Row
from model.runtime import META
from model.taxonomy import HEAD_NAMES, TAXONOMY_VERSION


def texts_of(rows: Sequence[Row]) -> list[str]:
    return [model_input(r.text, r.context) for r in rows]


def labels_of(rows: Sequence[Row]) -> dict[str, list[str | None]]:
    return {h: [r.labels.get(h) for r in rows] for h in HEAD_NAMES}


def write_meta(folder: Path, runtime: str, family: str, **extra: object) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    meta = {
        "runtime": runtime,
        "family": family,
        "taxonomy_version": TAXONOMY_VERSION,
        "heads": list(HEAD_NAMES),
        **extra,
    }
    (folder / META).write_text(json.dumps(meta, indent=2))


def pins(*packages: str) -> list[str]:
    return [f"{p}=={version(p)}" for p in packages]
