"""Draw the random sample of real pool mentions that the team labels.

The sample is a fixed-seed random draw within each pool, so its label
distribution is that of real traffic: metrics on it estimate what a team
would see. The draw is deterministic (same pools, same seed, same rows), and
a second, independent pass is drawn from it for the agreement check.
Batches are written as JSONL under the git-ignored var folder because they
hold the pool texts, which never enter the repository.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from pathlib import Path

from model.real_labels import PRODUCT_LANGS
from model.real_pools import ORANGEBE, POOL_FILES, TWCS, PoolMention, read_pool

SEED = 20261201
ORANGEBE_DUTCH = 1580
"""Walk the shuffled Orange Belgium turns until this many Dutch ones are drawn (and keep
every French, Danish, English or untagged turn met on the way)."""
TWCS_PER_FILE = {POOL_FILES[TWCS][0]: 1000, POOL_FILES[TWCS][1]: 300}
SECOND_PASS = 300


def _shuffled(mentions: Iterable[PoolMention], seed: int) -> list[PoolMention]:
    ordered = sorted((m for m in mentions if m.text), key=lambda m: int(m.tweet_id))
    random.Random(seed).shuffle(ordered)
    return ordered


def draw(shared: Path, seed: int = SEED) -> list[PoolMention]:
    """The random sample, in draw order (Orange Belgium first, then TWCS)."""
    picked: list[PoolMention] = []
    seen: set[str] = set()
    dutch = 0
    for m in _shuffled(read_pool(ORANGEBE, shared), seed):
        if dutch >= ORANGEBE_DUTCH:
            break
        if m.tweet_id in seen:  # the pool repeats a tweet that sits in two conversations
            continue
        seen.add(m.tweet_id)
        if m.lang is None or m.lang in PRODUCT_LANGS:
            picked.append(m)
            dutch += m.lang == "nl"
    twcs = _shuffled(read_pool(TWCS, shared), seed)
    for rel, n in TWCS_PER_FILE.items():
        picked.extend([m for m in twcs if m.file == rel][:n])
    return picked


def second_pass(sample: list[PoolMention], seed: int = SEED, n: int = SECOND_PASS) -> list[PoolMention]:
    return random.Random(seed + 1).sample(sample, n)


def _task(m: PoolMention) -> dict:
    return {"key": f"{m.source}:{m.tweet_id}", "context": m.context, "text": m.text}


def write_batches(mentions: list[PoolMention], out: Path, prefix: str, batches: int) -> list[Path]:
    """Split into ``batches`` interleaved JSONL files (each a mix of pools and languages)."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for b in range(batches):
        path = out / f"{prefix}{b + 1:02d}.jsonl"
        with path.open("w", encoding="utf-8") as fh:
            for m in mentions[b::batches]:
                fh.write(json.dumps(_task(m), ensure_ascii=False) + "\n")
        paths.append(path)
    return paths
