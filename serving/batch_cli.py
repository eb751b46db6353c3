"""`webcare score-file | score-spark`: re-score a mention archive with a registered model."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from model.settings import CHAMPION

app = typer.Typer()


class OnError(StrEnum):
    skip = "skip"
    fail = "fail"


AliasOpt = Annotated[str, typer.Option(help="registry alias to score with")]
VersionOpt = Annotated[str | None, typer.Option(help="model version (instead of --alias)")]
AsOfOpt = Annotated[
    str,
    typer.Option(
        help="arrival: each mention as at its created_at (no waiting added); now: as the API would "
        "at the run's start; or an ISO 8601 time"
    ),
]
OnErrorOpt = Annotated[
    OnError, typer.Option(help="a bad row is reported as file:line: reason and skipped, or fails the run")
]


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


@app.command("score-file")
def score_file(
    src: Annotated[Path, typer.Argument(metavar="IN", help="mentions: .csv, .jsonl or .parquet")],
    out: Annotated[Path, typer.Argument(metavar="OUT", help="results: .csv, .jsonl or .parquet")],
    alias: AliasOpt = CHAMPION,
    version: VersionOpt = None,
    chunk_size: Annotated[int, typer.Option(min=1, help="rows per chunk (memory, checkpoints)")] = 2000,
    resume: Annotated[bool, typer.Option("--resume", help="continue after the last complete chunk")] = False,
    on_error: OnErrorOpt = OnError.skip,
    as_of: AsOfOpt = "arrival",
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
) -> None:
    """Score a file of mentions with the API's code path, in chunks, resumably; prints rows/s."""
    from mlflow.exceptions import MlflowException

    from serving.batch import score_file as run
    from serving.batch_files import BatchError
    from serving.reply_templates import TemplatesError

    try:
        summary = run(
            src, out, alias=alias, version=version, chunk_size=chunk_size, resume=resume,
            on_error=on_error.value, as_of=as_of, report=lambda m: typer.echo(m, err=True),
            show_progress=progress,
        )  # fmt: skip
    except (BatchError, TemplatesError, ValueError) as exc:
        raise _fail(str(exc)) from None
    except MlflowException as exc:
        raise _fail(f"no model {version or alias!r} in the registry: {exc.message}", 2) from None
    except KeyboardInterrupt:
        raise _fail("interrupted: the same command with --resume goes on after the last chunk", 130) from None
    m = summary.model
    typer.echo(
        f"{summary.scored:,} scored, {summary.skipped:,} skipped (bad rows) -> {summary.output}\n"
        f"{summary.rows_this_run:,} rows in {summary.seconds_this_run:.1f} s this run: "
        f"{summary.rows_per_s:,.0f} rows/s (model {m['name']} v{m['version']} {m['family']}, "
        f"loaded in {summary.load_seconds:.1f} s)",
        err=True,
    )


@app.command("score-spark")
def score_spark(
    src: Annotated[str, typer.Argument(metavar="IN", help="mentions: .csv/.jsonl/.parquet path or a table")],
    out: Annotated[str, typer.Argument(metavar="OUT", help="results: a .csv/.jsonl/.parquet folder")],
    alias: AliasOpt = CHAMPION,
    version: VersionOpt = None,
    master: Annotated[
        str | None, typer.Option(help="e.g. local[2], yarn, k8s://...; default: spark-submit's, or local[*]")
    ] = None,
    partitions: Annotated[
        int | None, typer.Option(min=1, help="repartition the input (default: ≥ the default parallelism)")
    ] = None,
    input_format: Annotated[
        str | None, typer.Option(help="csv, jsonl or parquet when IN has no such extension (a folder)")
    ] = None,
    on_error: OnErrorOpt = OnError.skip,
    as_of: AsOfOpt = "arrival",
) -> None:
    """Score mentions on Apache Spark through mlflow.pyfunc.spark_udf, with the API's priority and routing."""
    from mlflow.exceptions import MlflowException

    from serving.batch_files import BatchError
    from serving.spark_scoring import score_spark as run
    from serving.spark_scoring import spark_session

    spark = spark_session(master)
    try:
        summary = run(
            spark, src, out, alias=alias, version=version, partitions=partitions, input_format=input_format,
            on_error=on_error.value, as_of=as_of, report=lambda m: typer.echo(m, err=True),
        )  # fmt: skip
    except (BatchError, ValueError) as exc:
        raise _fail(str(exc)) from None
    except MlflowException as exc:
        raise _fail(f"no model {version or alias!r} in the registry: {exc.message}", 2) from None
    finally:
        spark.stop()
    m = summary.model
    typer.echo(
        f"{summary.scored:,} scored, {summary.skipped:,} skipped (bad rows) -> {summary.output}\n"
        f"{summary.seconds:.1f} s: {summary.rows_per_s:,.0f} rows/s on {summary.master} "
        f"(model {m['name']} v{m['version']} {m['family']})",
        err=True,
    )
