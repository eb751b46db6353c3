"""`webcare score-file`: score a mention archive in chunks, resumably, with the API's code.

Memory holds one chunk. After each chunk its results are written as a part file and a
sidecar ``OUT.progress.json`` records how far the input was read; ``--resume`` drops any
part written after that checkpoint, seeks the input to it and goes on, so no row is lost
or scored twice. The output appears only at the end, in one rename. A resumed run keeps
the model version, policy, reply templates and clock the run started with.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from model.loading import LoadedModel
from model.priority import Policy
from serving.batch_files import BatchError, Format, Parts, Position, file_format, input_total, read_records
from serving.batch_rows import Clock, ScoredRow, score_chunk, validate
from serving.language import LanguageIdentifier
from serving.reply_templates import ReplyTemplates
from serving.schemas import Mention

OnError = Literal["skip", "fail"]
PROGRESS_VERSION = 1


@dataclass
class Progress:
    """The sidecar: what the run is and how far it got (rewritten atomically per chunk)."""

    input: str
    input_size: int
    input_mtime_ns: int
    output: str
    model: dict[str, str]
    policy_version: str
    templates_version: str
    as_of: str
    started: str
    chunk_size: int
    chunks: int = 0
    offset: int = 0
    line: int = 0
    scored: int = 0
    skipped: int = 0
    seconds: float = 0.0
    version: int = PROGRESS_VERSION

    @staticmethod
    def path_for(out: Path) -> Path:
        return out.with_name(f"{out.name}.progress.json")

    @classmethod
    def load(cls, path: Path) -> Progress:
        try:
            data = json.loads(path.read_text())
            if data.get("version") != PROGRESS_VERSION:
                raise ValueError(f"version {data.get('version')}")
            return cls(**data)
        except (OSError, ValueError, TypeError) as exc:
            raise BatchError(f"{path}: unreadable progress file ({exc}); run without --resume") from None

    def save(self, path: Path) -> None:
        tmp = path.with_name(f".{path.name}.tmp")
        with open(tmp, "w") as fh:
            json.dump(asdict(self), fh, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)


@dataclass
class Summary:
    output: Path
    model: dict[str, str]
    scored: int
    skipped: int
    rows_this_run: int
    seconds_this_run: float
    load_seconds: float
    resumed_at_line: int | None = None

    @property
    def rows_per_s(self) -> float:
        return self.rows_this_run / self.seconds_this_run if self.seconds_this_run > 0 else 0.0


def _fingerprint(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


def _check_resumable(progress: Progress, src: Path, out: Path, version: str | None, as_of: str) -> None:
    if progress.input != str(src.resolve()) or progress.output != str(out.resolve()):
        raise BatchError(f"the interrupted run scored {progress.input} into {progress.output}")
    if (progress.input_size, progress.input_mtime_ns) != _fingerprint(src):
        raise BatchError(f"{src} changed since the interrupted run started; run again without --resume")
    if version is not None and version != progress.model["version"]:
        raise BatchError(f"the interrupted run uses model version {progress.model['version']}, not {version}")
    if as_of != progress.as_of:
        raise BatchError(f"the interrupted run scores as of {progress.as_of!r}, not {as_of!r}")


def score_file(
    src: Path,
    out: Path,
    *,
    alias: str = "champion",
    version: str | None = None,
    chunk_size: int = 2000,
    resume: bool = False,
    on_error: OnError = "skip",
    as_of: str = "arrival",
    report: Callable[[str], None] = print,
    show_progress: bool = False,
    on_chunk: Callable[[int], None] | None = None,
) -> Summary:
    """Score ``src`` into ``out`` (formats by extension). Bad rows are reported through
    ``report`` as ``file:line: reason`` and skipped, or stop the run (``on_error="fail"``)."""
    from model.loading import load_version, resolve_alias
    from model.settings import configure_mlflow, get_settings
    from serving.settings import get_serve_settings

    if chunk_size < 1:
        raise BatchError("--chunk-size must be at least 1")
    fmt_in, fmt_out = file_format(src), file_format(out)
    if not src.is_file():
        raise BatchError(f"{src}: no such file")
    if src.resolve() == out.resolve():
        raise BatchError(f"{out}: the output would overwrite the input")
    out.parent.mkdir(parents=True, exist_ok=True)
    sidecar, parts = Progress.path_for(out), Parts(out, fmt_out)
    Clock.parse(as_of, datetime.now(UTC))  # a bad --as-of fails before anything loads

    previous: Progress | None = None
    if sidecar.is_file():
        if resume:
            previous = Progress.load(sidecar)
            _check_resumable(previous, src, out, version, as_of)
        else:
            report(f"note: discarding the progress of an interrupted run ({sidecar}); --resume continues it")
            sidecar.unlink()
            parts.remove()
    elif resume:
        report(f"note: nothing to resume ({sidecar} not found): starting from the top")

    started_load = time.perf_counter()
    settings, serve = get_settings(), get_serve_settings()
    configure_mlflow(settings)
    name = settings.registered_model
    wanted = previous.model["version"] if previous else version or resolve_alias(name, alias)
    model = load_version(name, wanted)
    policy = Policy.load(serve.policy)
    templates = ReplyTemplates.load(serve.reply_templates)
    languages = LanguageIdentifier()
    load_seconds = time.perf_counter() - started_load

    if previous is None:
        size, mtime = _fingerprint(src)
        previous = Progress(
            input=str(src.resolve()), input_size=size, input_mtime_ns=mtime, output=str(out.resolve()),
            model={"name": model.name, "version": model.version, "family": model.family},
            policy_version=policy.version, templates_version=templates.version, as_of=as_of,
            started=datetime.now(UTC).isoformat(), chunk_size=chunk_size,
        )  # fmt: skip
        resumed_at = None
    else:
        if (policy.version, templates.version) != (previous.policy_version, previous.templates_version):
            raise BatchError(
                f"the policy or reply templates changed since the interrupted run started "
                f"({previous.policy_version}/{previous.templates_version}); run again without --resume"
            )
        resumed_at = previous.line + 1
        report(f"resuming at {src}:{resumed_at} after {previous.chunks} chunk(s), "
               f"{previous.scored:,} row(s) scored")  # fmt: skip
    progress = previous
    clock = Clock.parse(progress.as_of, datetime.fromisoformat(progress.started))
    parts.keep(progress.chunks)

    scorer = _Scorer(model, policy, languages, templates, clock)
    summary = Summary(out, progress.model, 0, 0, 0, 0.0, load_seconds, resumed_at)
    began = time.perf_counter()
    bar = _progress_bar(src, fmt_in, show_progress, progress.offset)
    emit = (lambda m: bar.console.print(m, markup=False, highlight=False)) if show_progress else report

    def checkpoint(chunk: list[Mention], bad: int, position: Position) -> None:
        """Score and write one chunk, then record it: the part first, the progress file after."""
        rows = scorer.score(chunk)
        parts.write(progress.chunks, rows)
        elapsed = time.perf_counter() - began
        progress.chunks += 1
        progress.offset, progress.line = position.offset, position.line
        progress.scored += len(rows)
        progress.skipped += bad
        progress.seconds += elapsed - summary.seconds_this_run
        progress.save(sidecar)
        summary.seconds_this_run = elapsed
        summary.rows_this_run += len(rows)
        if bar.tasks:
            bar.update(bar.tasks[0].id, completed=position.offset, rows=summary.rows_this_run,
                       rate=summary.rows_this_run / max(elapsed, 1e-9))  # fmt: skip

    try:
        with bar:
            chunk: list[Mention] = []
            bad = 0
            position = Position(progress.offset, progress.line)
            for record, after in read_records(src, fmt_in, position):
                reason = record.error
                if reason is None:
                    checked = validate(record.fields or {}, default_id=str(record.line))
                    if isinstance(checked, str):
                        reason = checked
                    else:
                        chunk.append(checked)
                if reason is not None:
                    message = f"{src}:{record.line}: {reason}"
                    if on_error == "fail":
                        raise BatchError(message)
                    emit(message)
                    bad += 1
                position = after
                if len(chunk) + bad >= chunk_size:
                    checkpoint(chunk, bad, position)
                    chunk, bad = [], 0
                    if on_chunk is not None:
                        on_chunk(progress.chunks)
            if chunk or bad:
                checkpoint(chunk, bad, position)
        parts.finish(progress.chunks)
    except BatchError:
        if on_error == "fail":  # nothing to resume: the input has to change first
            sidecar.unlink(missing_ok=True)
            parts.remove()
        raise
    sidecar.unlink(missing_ok=True)
    parts.remove()
    summary.scored, summary.skipped = progress.scored, progress.skipped
    summary.seconds_this_run = time.perf_counter() - began
    return summary


@dataclass(frozen=True)
class _Scorer:
    model: LoadedModel
    policy: Policy
    languages: LanguageIdentifier
    templates: ReplyTemplates
    clock: Clock

    def score(self, chunk: list[Mention]) -> list[ScoredRow]:
        return score_chunk(chunk, self.model, self.policy, self.languages, self.templates, self.clock)


def _progress_bar(src: Path, fmt: Format, show: bool, done: int):
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

    bar = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), TaskProgressColumn(),
        TextColumn("{task.fields[rows]:,} rows · {task.fields[rate]:,.0f} rows/s"), TimeRemainingColumn(),
        console=Console(stderr=True), disable=not show,
    )  # fmt: skip
    if show:
        bar.add_task(f"scoring {src.name}", total=input_total(src, fmt), completed=done, rows=0, rate=0.0)
    return bar
