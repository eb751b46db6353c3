"""Turn a project's annotations into a new, immutable dataset version.

Each export is a full snapshot: every task whose annotations resolve becomes a
row in the dataset schema, conflicts are written beside it (and left out of
training until someone resolves them in Label Studio), every annotator's own
labels go to annotations.ndjson, and the manifest records what the snapshot
contains and how well the annotators agreed. A version is
written to a temp folder and renamed into place, so a failed run never leaves a
half-written version, and an export that would repeat the latest one writes nothing.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from labeling.agreement import head_agreement
from labeling.config import CONTEXT_FIELD, TAGS_FIELD, TEXT_FIELD
from labeling.language import detect
from labeling.normalize import text_hash
from model.dataset import KNOWN_TAGS, Row, validate_record
from model.dataset_versions import (
    CONFLICTS_FILE,
    DATASET_FILE,
    MANIFEST,
    next_version_name,
    read_manifest,
    sha256_file,
    version_dirs,
)
from model.taxonomy import BY_NAME, HEAD_NAMES, HEADS, TAXONOMY_VERSION

SOURCE = "labelstudio"
ANNOTATIONS_FILE = "annotations.ndjson"
"""One JSON line per annotator and mention: their own labels, whatever the majority said.
(Not ``.jsonl``: every ``*.jsonl`` in a version folder is training data.)"""
EDIT_GRACE_S = 2.0
"""An annotation saved this long after its creation by someone else was edited by them."""
PUBLIC_ORIGINS = frozenset({"twcs", "orangebe", "airline"})
"""Task origins from ../shared/datasets: their rows must not be committed to the repository."""


@dataclass(frozen=True)
class Annotation:
    id: int
    task_id: int
    annotator: int
    labels: dict[str, str]
    ground_truth: bool
    updated_at: str
    tags: frozenset[str] = frozenset()


@dataclass
class Snapshot:
    rows: list[Row]
    conflicts: list[dict[str, Any]]
    counts: dict[str, Any]
    annotators: list[dict[str, Any]]
    agreement: dict[str, Any]
    invalid: list[dict[str, Any]] = field(default_factory=list)
    per_annotator: list[dict[str, Any]] = field(default_factory=list)
    """The annotations.ndjson records: each annotator's own labels per mention."""
    reattributed: list[dict[str, Any]] = field(default_factory=list)
    """Annotations last saved by someone other than their author (servers without the guard)."""


def _get(obj: Any, name: str, default: Any = None) -> Any:
    """Tasks come as SDK models, annotations as dicts: read either."""
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _annotator(raw: Any) -> int | None:
    value = raw.get("id") if isinstance(raw, dict) else raw
    return int(value) if isinstance(value, int | str) and str(value).isdigit() else None


def _seconds_between(start: Any, end: Any) -> float:
    try:
        a = datetime.fromisoformat(str(start).replace("Z", "+00:00"))
        b = datetime.fromisoformat(str(end).replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    return (b - a).total_seconds()


def author(raw: Any) -> tuple[int | None, int | None]:
    """Whose labels an annotation holds, and its recorded author when that differs.

    Label Studio Community lets any member update anyone's annotation (the Data
    Manager even opens the first one) and keeps no history: ``completed_by`` stays
    the first author while ``updated_by`` becomes whoever saved it last. Such
    labels are the last saver's. (An admin creating an annotation for someone
    sets ``updated_by`` too, but at creation time; starring one as ground truth
    leaves the author's labels, so it is not a change of hands.)
    """
    completed = _annotator(_get(raw, "completed_by"))
    updated = _annotator(_get(raw, "updated_by"))
    if updated is None or updated == completed or _get(raw, "ground_truth"):
        return completed, None
    if _seconds_between(_get(raw, "created_at"), _get(raw, "updated_at")) <= EDIT_GRACE_S:
        return completed, None
    return updated, completed


def parse_labels(result: Iterable[Any]) -> dict[str, str]:
    """Head -> label from a Label Studio result list; unknown heads or labels are ignored."""
    labels: dict[str, str] = {}
    for item in result or ():
        name = _get(item, "from_name")
        choices = (_get(item, "value") or {}).get("choices") or []
        if name in BY_NAME and len(choices) == 1 and choices[0] in BY_NAME[name].labels:
            labels[name] = choices[0]
    return labels


def parse_tags(result: Iterable[Any]) -> frozenset[str]:
    """The optional hard-case tags an annotator ticked (unknown tags are ignored)."""
    tags: set[str] = set()
    for item in result or ():
        if _get(item, "from_name") == TAGS_FIELD:
            tags.update((_get(item, "value") or {}).get("choices") or [])
    return frozenset(tags & KNOWN_TAGS)


def resolve_tags(annotations: list[Annotation]) -> list[str]:
    """Tags a ground-truth annotation has, else those a strict majority of annotators ticked.

    Tags are optional hints, so a disagreement on them never makes a conflict.
    """
    truth = sorted((a for a in annotations if a.ground_truth), key=lambda a: (a.updated_at, a.id))
    if truth:
        return sorted(truth[-1].tags)
    counts = Counter(tag for a in annotations for tag in a.tags)
    return sorted(tag for tag, n in counts.items() if n * 2 > len(annotations))


def usable_annotations(
    task: Any, stats: Counter[str], reattributed: list[dict[str, Any]] | None = None
) -> list[Annotation]:
    """One annotation per annotator (their latest); cancelled or empty ones are only counted."""
    latest: dict[int, Annotation] = {}
    for raw in _get(task, "annotations") or []:
        if _get(raw, "was_cancelled"):
            stats["cancelled"] += 1
            continue
        annotator, recorded = author(raw)
        if recorded is not None and reattributed is not None:
            reattributed.append({"task_id": int(_get(task, "id")), "annotation_id": _get(raw, "id"),
                                 "completed_by": recorded, "updated_by": annotator})  # fmt: skip
        labels = parse_labels(_get(raw, "result") or [])
        if annotator is None or not labels:
            stats["empty"] += 1
            continue
        stats["annotations"] += 1
        ann = Annotation(
            id=int(_get(raw, "id") or 0),
            task_id=int(_get(task, "id")),
            annotator=annotator,
            labels=labels,
            ground_truth=bool(_get(raw, "ground_truth")),
            updated_at=str(_get(raw, "updated_at") or ""),
            tags=parse_tags(_get(raw, "result") or []),
        )
        previous = latest.get(annotator)
        if previous is None or (ann.updated_at, ann.id) > (previous.updated_at, previous.id):
            latest[annotator] = ann
    return list(latest.values())


def resolve(annotations: list[Annotation]) -> tuple[dict[str, str | None], dict[str, Any]]:
    """Per head: a ground-truth annotation wins, else a strict majority; else a conflict.

    Returns the resolved labels (None where nobody labelled the head) and, per
    conflicting head, the votes that could not be resolved.
    """
    labels: dict[str, str | None] = {}
    conflicts: dict[str, Any] = {}
    truth = sorted((a for a in annotations if a.ground_truth), key=lambda a: (a.updated_at, a.id))
    for head in HEAD_NAMES:
        chosen = [a.labels[head] for a in truth if head in a.labels]
        if chosen:
            labels[head] = chosen[-1]
            continue
        votes = {a.annotator: a.labels[head] for a in annotations if head in a.labels}
        if not votes:
            labels[head] = None
            continue
        tally = Counter(votes.values()).most_common()
        if tally[0][1] * 2 > len(votes):
            labels[head] = tally[0][0]
        else:
            labels[head] = None
            reason = "tie" if len(tally) > 1 and tally[0][1] == tally[1][1] else "no majority"
            conflicts[head] = {
                "reason": reason,
                "votes": dict(sorted(Counter(votes.values()).items())),
                "by_annotator": {str(k): v for k, v in sorted(votes.items())},
            }
    return labels, conflicts


def build_snapshot(tasks: Iterable[Any], *, project_id: int, base_url: str = "") -> Snapshot:
    """Resolve every task. Tasks with the same normalised text are one mention."""
    stats: Counter[str] = Counter()
    groups: dict[str, list[Any]] = defaultdict(list)
    for task in tasks:
        stats["tasks"] += 1
        data = _get(task, "data") or {}
        text = data.get(TEXT_FIELD)
        if not isinstance(text, str) or not text.strip():
            stats["tasks_without_text"] += 1
            continue
        groups[text_hash(text)].append(task)
    per_annotator: Counter[int] = Counter()
    votes: dict[str, dict[int, dict[int, str]]] = {h: {} for h in HEAD_NAMES}
    pending: list[tuple[str, Any, dict[str, str | None], list[str]]] = []
    conflicts: list[dict[str, Any]] = []
    own: list[dict[str, Any]] = []
    reattributed: list[dict[str, Any]] = []
    for key, group in sorted(groups.items()):
        group.sort(key=lambda t: int(_get(t, "id")))
        annotations: list[Annotation] = []
        for task in group:
            annotations.extend(usable_annotations(task, stats, reattributed))
        by_annotator: dict[int, Annotation] = {}
        for ann in sorted(annotations, key=lambda a: (a.updated_at, a.id)):
            by_annotator[ann.annotator] = ann  # merged duplicates: the latest per annotator
        annotations = list(by_annotator.values())
        if not annotations:
            continue
        stats["annotated_mentions"] += 1
        stats["doubly_labelled"] += len(annotations) >= 2
        first_id = int(_get(group[0], "id"))
        for ann in sorted(annotations, key=lambda a: a.annotator):
            own.append({"id": f"ls-{key}", "task_id": ann.task_id, "annotation_id": ann.id,
                        "annotator": ann.annotator, **ann.labels, "tags": sorted(ann.tags),
                        "ground_truth": ann.ground_truth})  # fmt: skip
        for ann in annotations:
            per_annotator[ann.annotator] += 1
            for head, label in ann.labels.items():
                votes[head].setdefault(first_id, {})[ann.annotator] = label
        labels, unresolved = resolve(annotations)
        if unresolved:
            conflicts.append(
                {
                    "id": f"ls-{key}",
                    "project_id": project_id,
                    "task_ids": [int(_get(t, "id")) for t in group],
                    "url": f"{base_url}/projects/{project_id}/data?task={first_id}"
                    if base_url
                    else None,
                    "heads": unresolved,
                }
            )
            continue
        if any(v is not None for v in labels.values()):
            pending.append((key, group[0], labels, resolve_tags(annotations)))
    rows, invalid = _rows(pending)
    origin_of = {f"ls-{key}": str((_get(t, "data") or {}).get("origin") or "unknown")
                 for key, t, _, _ in pending}  # fmt: skip
    cancelled_by: Counter[int] = Counter()
    for group in groups.values():
        for task in group:
            for raw in _get(task, "annotations") or []:
                who = _annotator(_get(raw, "completed_by"))
                if _get(raw, "was_cancelled") and who is not None:
                    cancelled_by[who] += 1
    annotators = [
        {"id": a, "labelled": per_annotator[a], "cancelled": cancelled_by[a]}
        for a in sorted(set(per_annotator) | set(cancelled_by))
    ]
    counts = {
        "tasks": stats["tasks"],
        "annotated_mentions": stats["annotated_mentions"],
        "annotations": stats["annotations"],
        "cancelled_annotations": stats["cancelled"],
        "empty_annotations": stats["empty"],
        "doubly_labelled_mentions": stats["doubly_labelled"],
        "reattributed_annotations": len(reattributed),
        "rows": len(rows),
        "conflicts": len(conflicts),
        "invalid": len(invalid),
        "per_label": {
            h.name: {
                label: sum(1 for r in rows if r.labels.get(h.name) == label) for label in h.labels
            }
            for h in HEADS
        },  # fmt: skip
        "per_lang": dict(sorted(Counter(r.lang for r in rows).items())),
        "per_origin": dict(sorted(Counter(origin_of[r.id] for r in rows).items())),
    }
    agreement = {h.name: head_agreement(votes[h.name], h.labels) for h in HEADS}
    conflicts.sort(key=lambda c: c["id"])
    return Snapshot(rows, conflicts, counts, annotators, agreement, invalid, own, reattributed)


def _rows(
    pending: list[tuple[str, Any, dict[str, str | None], list[str]]],
) -> tuple[list[Row], list[dict]]:
    """Dataset rows, checked against the schema; a task that fails is reported, not written."""
    langs = [(_get(task, "data") or {}).get("lang") for _, task, _, _ in pending]
    missing = [i for i, lang in enumerate(langs) if not (isinstance(lang, str) and len(lang) == 2)]
    texts = [(_get(pending[i][1], "data") or {})[TEXT_FIELD] for i in missing]
    for i, lang in zip(missing, detect(texts), strict=True):
        langs[i] = lang
    rows: list[Row] = []
    invalid: list[dict[str, Any]] = []
    for (key, task, labels, tags), lang in zip(pending, langs, strict=True):
        data = _get(task, "data") or {}
        record: dict[str, Any] = {
            "id": f"ls-{key}",
            "text": data[TEXT_FIELD].strip(),
            "lang": str(lang).lower(),
            "context": (data.get(CONTEXT_FIELD) or "").strip() or None,
            "source": SOURCE,
            **labels,
        }
        if isinstance(data.get("domain"), str) and data["domain"]:
            record["domain"] = data["domain"]
        if tags:
            record["tags"] = tags
        try:
            rows.append(validate_record(record, require_labels=False))
        except ValueError as exc:
            invalid.append({"task_id": int(_get(task, "id")), "reason": str(exc)})
    rows.sort(key=lambda r: r.id)
    return rows, invalid


@dataclass
class ExportResult:
    version: str
    path: Path
    manifest: dict[str, Any]
    created: bool
    """False when nothing changed since ``version`` (the latest), so nothing was written."""


def _jsonl_bytes(records: Iterable[dict[str, Any]]) -> bytes:
    return b"".join((json.dumps(r, ensure_ascii=False) + "\n").encode("utf-8") for r in records)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def public_url(url: str) -> str:
    """scheme://host:port only: never write credentials or paths from a URL to a manifest."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}{f':{parts.port}' if parts.port else ''}" if host else ""


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    """One export at a time per datasets dir (a lock on the folder itself, so no lock
    file lands in the repository): version numbers must not collide."""
    fd = os.open(root, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def write_version(
    snapshot: Snapshot,
    root: Path,
    *,
    source: dict[str, Any],
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> ExportResult:
    """Write ``root/vNNNN`` unless its content would equal the latest version's."""
    dataset = _jsonl_bytes(r.to_json() for r in snapshot.rows)
    conflicts = _jsonl_bytes(snapshot.conflicts)
    own = _jsonl_bytes(snapshot.per_annotator)
    content = {
        "sha256": _sha(dataset),
        "conflicts_sha256": _sha(conflicts),
        "annotations_sha256": _sha(own),
        "counts": snapshot.counts,
        "annotators": snapshot.annotators,
        "agreement": snapshot.agreement,
        "source": source,
        "taxonomy_version": TAXONOMY_VERSION,
    }
    content_sha = _sha(json.dumps(content, sort_keys=True).encode("utf-8"))
    root.mkdir(parents=True, exist_ok=True)
    with _locked(root):
        versions = version_dirs(root)
        latest = versions[-1] if versions else None
        if latest is not None:
            previous = read_manifest(latest) or {}
            unchanged = previous.get("content_sha256") == content_sha
            if unchanged and sha256_file(latest / DATASET_FILE) == content["sha256"]:
                return ExportResult(latest.name, latest, previous, created=False)
        name = next_version_name(root)
        manifest = {
            "version": name,
            "created_at": now().isoformat(timespec="seconds").replace("+00:00", "Z"),
            "previous": latest.name if latest else None,
            **content,
            "files": {
                DATASET_FILE: {"sha256": content["sha256"], "rows": len(snapshot.rows)},
                CONFLICTS_FILE: {
                    "sha256": content["conflicts_sha256"],
                    "rows": len(snapshot.conflicts),
                },
                ANNOTATIONS_FILE: {"sha256": content["annotations_sha256"],
                                   "rows": len(snapshot.per_annotator)},  # fmt: skip
            },
            "content_sha256": content_sha,
        }
        tmp = root / f".{name}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            tmp.mkdir()
            (tmp / DATASET_FILE).write_bytes(dataset)
            (tmp / CONFLICTS_FILE).write_bytes(conflicts)
            (tmp / ANNOTATIONS_FILE).write_bytes(own)
            (tmp / MANIFEST).write_text(
                json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
            )
            for file in tmp.iterdir():
                with file.open("rb") as fh:
                    os.fsync(fh.fileno())
            tmp.rename(root / name)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return ExportResult(name, root / name, manifest, created=True)
