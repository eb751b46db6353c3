"""Deterministic train/validation/test assignment by a hash of a stable id.

Adding rows never moves an existing row to another split, so a test row can
never leak into training by re-splitting.
"""

from __future__ import annotations

import hashlib
from typing import Literal

Split = Literal["train", "validation", "test"]
SPLITS: tuple[Split, ...] = ("train", "validation", "test")
TRAIN_PCT, VALIDATION_PCT = 70, 15


def assign(key: str, salt: str = "webcare-v1") -> Split:
    bucket = int.from_bytes(hashlib.sha256(f"{salt}:{key}".encode()).digest()[:8], "big") % 100
    if bucket < TRAIN_PCT:
        return "train"
    if bucket < TRAIN_PCT + VALIDATION_PCT:
        return "validation"
    return "test"
