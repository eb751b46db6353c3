"""Exported dataset versions (``data/versions/vNNNN/``): naming, manifests, provenance.

Labeling writes the versions and training reads them; both sides need the same
folder rule and manifest fields, so they live here in the core. ``mlflow_params``
is what a training run logs so that it records exactly which export it used.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

VERSION_RE = re.compile(r"^v(\d{4,})$")
MANIFEST = "manifest.json"
DATASET_FILE = "dataset.jsonl"
CONFLICTS_FILE = "conflicts.jsonl"


def is_version_dir(path: Path) -> bool:
    return path.is_dir() and VERSION_RE.match(path.name) is not None


def version_number(path: Path) -> int:
    match = VERSION_RE.match(path.name)
    if match is None:
        raise ValueError(f"{path.name!r} is not a dataset version name (vNNNN)")
    return int(match.group(1))


def version_dirs(root: Path) -> list[Path]:
    """Version folders under root, oldest first (numeric order, not string order)."""
    if not root.is_dir():
        return []
    return sorted((p for p in root.iterdir() if is_version_dir(p)), key=version_number)


def next_version_name(root: Path) -> str:
    dirs = version_dirs(root)
    return f"v{(version_number(dirs[-1]) if dirs else 0) + 1:04d}"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The folder's manifest, or None when it has none or it is not valid JSON."""
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def mlflow_params(sources: Sequence[Path]) -> dict[str, str]:
    """Params naming each exported version among the sources and its manifest sha256.

    E.g. ``{"data.versions": "v0003", "data.v0003.sha256": "ab12..."}``; a version
    whose dataset file no longer matches its manifest is logged as ``MODIFIED``.
    """
    names: list[str] = []
    params: dict[str, str] = {}
    for source in sources:
        folder = Path(source)
        if not is_version_dir(folder):
            continue
        names.append(folder.name)
        manifest = read_manifest(folder) or {}
        recorded = str(manifest.get("sha256", "missing"))
        dataset = folder / DATASET_FILE
        actual = sha256_file(dataset) if dataset.is_file() else "missing"
        params[f"data.{folder.name}.sha256"] = recorded if recorded == actual else "MODIFIED"
    if names:
        params["data.versions"] = ",".join(names)
    return params
