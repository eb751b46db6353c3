"""Which datasets a run trains on, and the split of their rows."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from model.dataset import Row, load_dataset
from model.dataset_versions import version_dirs
from model.settings import Settings
from model.split import SPLITS, Split, assign


def latest_version(settings: Settings) -> Path | None:
    """The newest exported dataset version, by model.dataset_versions' one folder rule."""
    versions = version_dirs(settings.datasets_dir)
    return versions[-1] if versions else None


def default_sources(settings: Settings) -> list[Path]:
    """The bundled seed set plus the latest exported version, if there is one."""
    sources = [settings.seed_dir]
    latest = latest_version(settings)
    if latest is not None:
        sources.append(latest)
    return sources


def split_rows(rows: Sequence[Row]) -> dict[Split, list[Row]]:
    parts: dict[Split, list[Row]] = {s: [] for s in SPLITS}
    for row in rows:
        parts[assign(row.id)].append(row)
    return parts


def load_splits(sources: Sequence[Path]) -> dict[Split, list[Row]]:
    return split_rows(load_dataset(sources))
