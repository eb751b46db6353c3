"""Which mentions are worth a labeler's time: model uncertainty, minus near-duplicates.

Uncertainty is averaged over the heads, so a mention the champion is unsure
about on any head ranks high. Ranking by uncertainty alone fills a batch with
copies of one confusing template tweet, hence the near-duplicate guard: MinHash
over character 5-grams with LSH banding keeps it linear in the pool size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from labeling.normalize import shingle_text
from model.base import Probas

Strategy = Literal["margin", "entropy"]
STRATEGIES: tuple[str, ...] = ("margin", "entropy")
DUP_THRESHOLD = 0.7
_NUM_PERM, _BANDS = 48, 16
_PRIME = (1 << 31) - 1


def uncertainty(probas: Probas, strategy: str = "margin") -> np.ndarray:
    """Per mention, 0 (sure) to 1 (unsure), averaged over the heads the model has.

    margin: 1 - (p_top1 - p_top2); entropy: Shannon entropy / log(n_labels).
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r} (expected {' or '.join(STRATEGIES)})")
    per_head = []
    for p in probas.values():
        p = np.clip(np.asarray(p, dtype=np.float64), 0.0, 1.0)
        if p.ndim != 2 or p.shape[1] < 2:
            continue
        if strategy == "margin":
            top = np.sort(p, axis=1)[:, -2:]
            per_head.append(1.0 - (top[:, 1] - top[:, 0]))
        else:
            q = p / np.clip(p.sum(axis=1, keepdims=True), 1e-12, None)
            ent = -(q * np.log(np.clip(q, 1e-12, None))).sum(axis=1)
            per_head.append(ent / np.log(p.shape[1]))
    if not per_head:
        raise ValueError("the model returned no probabilities")
    return np.clip(np.mean(per_head, axis=0), 0.0, 1.0)


def _shingle_matrix(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """CSR-style (indices, indptr) of hashed character 5-gram ids per text."""
    from sklearn.feature_extraction.text import HashingVectorizer

    vec = HashingVectorizer(
        analyzer="char", ngram_range=(5, 5), n_features=1 << 24, alternate_sign=False,
        norm=None, binary=True, lowercase=False, preprocessor=lambda t: f"  {t}  ",
    )  # fmt: skip
    matrix = vec.transform([shingle_text(t) for t in texts]).tocsr()
    matrix.sort_indices()
    return matrix.indices.astype(np.int64), matrix.indptr


def _minhash(indices: np.ndarray, indptr: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(13)
    a = rng.integers(1, _PRIME, size=_NUM_PERM, dtype=np.int64)
    b = rng.integers(0, _PRIME, size=_NUM_PERM, dtype=np.int64)
    n = len(indptr) - 1
    sig = np.full((n, _NUM_PERM), _PRIME, dtype=np.int64)
    nonempty = np.diff(indptr) > 0
    starts = indptr[:-1][nonempty]
    for k in range(_NUM_PERM):
        hashed = (a[k] * indices + b[k]) % _PRIME
        if len(hashed):
            sig[nonempty, k] = np.minimum.reduceat(hashed, starts)
    return sig


@dataclass
class Ranking:
    order: list[int]
    """Indices into the pool, most useful first, near-duplicates left out."""
    duplicate_of: dict[int, int] = field(default_factory=dict)
    """Pool index -> pool index it nearly duplicates, or -1-i for existing text i."""

    def rank_of(self) -> dict[int, int]:
        return {idx: pos for pos, idx in enumerate(self.order, start=1)}


def rank(
    texts: Sequence[str],
    scores: np.ndarray | None = None,
    *,
    top_k: int | None = None,
    existing: Sequence[str] = (),
    threshold: float = DUP_THRESHOLD,
) -> Ranking:
    """Order the pool by score (highest first; file order without scores) and drop
    each mention whose 5-gram Jaccard similarity to an already kept one (or to an
    ``existing`` task text) is at least ``threshold``. Stops after ``top_k`` kept.
    """
    n = len(texts)
    if scores is not None and len(scores) != n:
        raise ValueError("scores and texts differ in length")
    order = (
        list(range(n)) if scores is None else list(np.argsort(-np.asarray(scores), kind="stable"))
    )
    all_texts = list(existing) + list(texts)
    indices, indptr = _shingle_matrix(all_texts)
    sig = _minhash(indices, indptr)
    rows = _NUM_PERM // _BANDS
    buckets: dict[tuple[int, bytes], list[int]] = {}
    sets: dict[int, frozenset[int]] = {}

    def shingles(i: int) -> frozenset[int]:
        if i not in sets:
            sets[i] = frozenset(indices[indptr[i] : indptr[i + 1]].tolist())
        return sets[i]

    def keys(i: int) -> list[tuple[int, bytes]]:
        return [(band, sig[i, band * rows : (band + 1) * rows].tobytes()) for band in range(_BANDS)]

    def similar_kept(i: int) -> int | None:
        mine = shingles(i)
        seen: set[int] = set()
        for key in keys(i):
            for j in buckets.get(key, ()):
                if j in seen:
                    continue
                seen.add(j)
                other = shingles(j)
                union = len(mine | other)
                if union and len(mine & other) / union >= threshold:
                    return j
        return None

    def keep(i: int) -> None:
        for key in keys(i):
            buckets.setdefault(key, []).append(i)

    offset = len(existing)
    for i in range(offset):
        keep(i)
    result = Ranking(order=[])
    for idx in order:
        idx = int(idx)
        if top_k is not None and len(result.order) >= top_k:
            break
        twin = similar_kept(offset + idx)
        if twin is not None:
            result.duplicate_of[idx] = twin - offset if twin >= offset else -1 - twin
            continue
        keep(offset + idx)
        result.order.append(idx)
    return result
