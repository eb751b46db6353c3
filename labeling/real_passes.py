"""Assemble the team's real-mention label passes into the committed label files,
and measure agreement between the independent first and second pass.

Labelers write one JSON line per mention (``key``, ``lang``, the four heads,
``unclear``, ``tags``); this module turns those into ``data/real/labels.csv``
(one adjudicated row per mention) and ``data/real/passes.csv`` (both passes of
the doubly-labelled sample, for κ). It never decides a label itself: where the
passes disagree, the adjudicator's reading is what goes into labels.csv.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from labeling.agreement import cohen_pairs
from model.real_labels import COLUMNS, RealLabel, parse_record
from model.taxonomy import BY_NAME, HEAD_NAMES

AGREEMENT_PASSES = ("1", "2")


def read_pass(path: Path, labeler: str, pass_: str, sample: str = "random") -> dict[str, RealLabel]:
    """A labeler's JSONL output as RealLabels keyed by ``source:tweet_id``."""
    out: dict[str, RealLabel] = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        obj = json.loads(line)
        source, _, tweet_id = obj["key"].rpartition(":")
        rec = {
            "source": source, "tweet_id": tweet_id, "lang": obj.get("lang") or "",
            **{h: obj.get(h) or "" for h in HEAD_NAMES},
            "unclear": str(int(obj.get("unclear") or 0)), "tags": ";".join(obj.get("tags") or []),
            "sample": sample, "labeler": labeler, "pass": pass_,
        }  # fmt: skip
        try:
            label = parse_record(rec, passes=(pass_,))
        except ValueError as exc:
            raise ValueError(f"{path}:{lineno}: {exc}") from None
        out[label.key] = label
    return out


def _record(label: RealLabel) -> dict[str, str]:
    return {
        "source": label.source, "tweet_id": label.tweet_id, "lang": label.lang,
        **{h: label.labels.get(h) or "" for h in HEAD_NAMES},
        "unclear": "1" if label.unclear else "0", "tags": ";".join(label.tags),
        "sample": label.sample, "labeler": label.labeler, "pass": label.pass_,
    }  # fmt: skip


def write_labels_atomic(path: Path, labels: Iterable[RealLabel]) -> None:
    """CSV in a stable order (source, numeric tweet id), via temp file + rename."""
    rows = sorted(labels, key=lambda r: (r.source, int(r.tweet_id), r.pass_))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(COLUMNS), lineterminator="\n")
    writer.writeheader()
    for label in rows:
        writer.writerow(_record(label))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(buf.getvalue(), encoding="utf-8")
    os.replace(tmp, path)


def disagreements(first: Mapping[str, RealLabel], second: Mapping[str, RealLabel]) -> list[str]:
    """Keys labelled in both passes whose language or any head differs."""
    return sorted(
        k for k in first.keys() & second.keys()
        if first[k].labels != second[k].labels or first[k].lang != second[k].lang
    )  # fmt: skip


def agreement(passes: Iterable[RealLabel]) -> dict[str, dict[str, Any]]:
    """Per head: Cohen's κ (the project's agreement code), raw agreement and n,
    over the mentions both passes labelled on that head (an unclear head is left out)."""
    by_key: dict[str, dict[str, RealLabel]] = {}
    for label in passes:
        by_key.setdefault(label.key, {})[label.pass_] = label
    out: dict[str, dict[str, Any]] = {}
    for head in HEAD_NAMES:
        votes: dict[int, dict[int, str]] = {}
        for i, key in enumerate(sorted(by_key)):
            both = by_key[key]
            values = {int(p): both[p].labels[head] for p in AGREEMENT_PASSES if p in both}
            if len(values) == 2 and None not in values.values():
                votes[i] = values
        pairs = cohen_pairs(votes, BY_NAME[head].labels)
        agree = sum(v[1] == v[2] for v in votes.values())
        out[head] = {
            "n": len(votes),
            "kappa": pairs[0]["kappa"] if pairs else None,
            "raw_agreement": round(agree / len(votes), 4) if votes else None,
        }
    return out


def agreement_file(path: Path) -> dict[str, dict[str, Any]]:
    """κ per head from a passes file (rows with pass 1 and pass 2 of the same mentions)."""
    errors = list(iter_pass_errors(path))
    if errors:
        raise ValueError(errors[0])
    return agreement(_read_any_pass(path))


def _read_any_pass(path: Path) -> list[RealLabel]:
    with path.open(newline="", encoding="utf-8") as fh:
        return [parse_record(rec, passes=AGREEMENT_PASSES) for rec in csv.DictReader(fh)]


def iter_pass_errors(path: Path) -> Iterable[str]:
    """The passes file holds each mention twice (pass 1, pass 2): check per (key, pass)."""
    seen: set[tuple[str, str]] = set()
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        for rec in reader:
            try:
                label = parse_record(rec, passes=AGREEMENT_PASSES)
            except ValueError as exc:
                yield f"{path}:{reader.line_num}: {exc}"
                continue
            if (label.key, label.pass_) in seen:
                yield f"{path}:{reader.line_num}: duplicate {label.key!r} in pass {label.pass_}"
            seen.add((label.key, label.pass_))



def assemble(
    first: Mapping[str, RealLabel],
    second: Mapping[str, RealLabel],
    adjudicated: Mapping[str, RealLabel],
) -> tuple[list[RealLabel], list[RealLabel]]:
    """(labels.csv rows, passes.csv rows). A doubly-labelled mention keeps the agreed
    labels (pass ``1+2``) or, where the passes differ, the adjudicator's (``adjudicated``)."""
    from dataclasses import replace

    missing = [k for k in disagreements(first, second) if k not in adjudicated]
    if missing:
        raise ValueError(f"{len(missing)} disagreement(s) not adjudicated, e.g. {missing[0]}")
    unknown = sorted(second.keys() - first.keys())
    if unknown:
        raise ValueError(f"{len(unknown)} second-pass key(s) not in the first pass, e.g. {unknown[0]}")
    final: list[RealLabel] = []
    for key, label in first.items():
        if key not in second:
            final.append(label)
        elif key in adjudicated and key in disagreements({key: label}, {key: second[key]}):
            final.append(replace(adjudicated[key], sample=label.sample, pass_="adjudicated"))
        else:
            final.append(replace(label, pass_="1+2"))
    passes = [replace(first[k], pass_="1") for k in second] + [replace(v, pass_="2") for v in second.values()]
    return final, passes
