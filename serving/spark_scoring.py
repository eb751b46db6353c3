"""`webcare score-spark`: score a mention archive on Apache Spark with the registered model.

The model runs through ``mlflow.pyfunc.spark_udf`` on the registry URI (the project's
pyfunc, ``env_manager="local"``: every executor needs this package installed), which
returns the four heads' labels and probabilities as one struct. Validation before it
and priority, routing and suggested replies after it run per partition through the same
functions as the API and `webcare score-file` (``serving.batch_rows``), so the rows equal
the local command's. On a cluster run it with spark-submit::

    spark-submit --master yarn serving/spark_scoring.py IN OUT [--alias champion]
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from model.taxonomy import HEADS
from serving.batch_files import EXTENSIONS, BatchError, file_format
from serving.batch_rows import (
    COLUMNS,
    SCHEMA,
    Clock,
    PrecomputedRuntime,
    csv_row,
    flat_row,
    json_line,
    validate,
)
from serving.schemas import Mention

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

PROBABILITIES = [f"{h.name}.{label}" for h in HEADS for label in h.labels]
"""The pyfunc's probability columns (``model.pyfunc.probas_frame``), in taxonomy order."""
DOT = "__"
"""Stands for "." in column names between stages: mapInPandas cannot pass dotted names."""
MAX_REPORTED = 20


def prediction_type():
    """The struct ``spark_udf`` returns: each head's label, then every head/label probability."""
    from pyspark.sql.types import DoubleType, StringType, StructField, StructType

    return StructType(
        [StructField(h.name, StringType()) for h in HEADS]
        + [StructField(name, DoubleType()) for name in PROBABILITIES]
    )


def spark_session(master: str | None = None) -> SparkSession:
    """A session for `webcare score-spark`. Run locally, its workers use this Python; under
    spark-submit (which starts Python with a gateway port) the cluster's configuration decides."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("webcare-score-spark")
    if master:
        builder = builder.master(master)
    submitted = "PYSPARK_GATEWAY_PORT" in os.environ
    if not submitted and (master is None or master.startswith("local")):
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # read when the context starts
        local = {"spark.ui.enabled": "false", "spark.ui.showConsoleProgress": "false"}
        for key, value in local.items():
            builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def read_mentions(spark: SparkSession, src: str, fmt: str | None = None) -> DataFrame:
    """CSV (header, all text), JSON Lines or Parquet by ``fmt`` or the path's extension (a file or
    a folder of parts, on any storage Spark reads), else a table name."""
    suffix = Path(src).suffix.lower()
    fmt = fmt or EXTENSIONS.get(suffix) or ("jsonl" if suffix == ".json" else None)
    reader = spark.read
    if fmt == "csv":
        return reader.options(header=True, multiLine=True, escape='"').csv(src)
    if fmt == "jsonl":
        return reader.option("columnNameOfCorruptRecord", "_corrupt_record").json(src)
    if fmt == "parquet" or (fmt is None and Path(src).is_dir()):
        return reader.parquet(src)
    if fmt is None and spark.catalog.tableExists(src):
        return spark.table(src)
    raise BatchError(f"{src}: not a .csv/.jsonl/.parquet path or a table (or pass the input format)")


def _mention_columns(df: DataFrame) -> DataFrame:
    """The columns ``Mention`` reads, structs (``author``) flattened to ``author__followers``."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import StructType

    wanted = set(Mention.model_fields)
    cols = []
    for f in df.schema.fields:
        head = f.name.split(".", 1)[0]
        if head not in wanted and f.name != "_corrupt_record":
            continue
        if isinstance(f.dataType, StructType):
            cols += [F.col(f"`{f.name}`.`{sub.name}`").alias(f"{f.name}{DOT}{sub.name}")
                     for sub in f.dataType.fields]  # fmt: skip
        else:
            cols.append(F.col(f"`{f.name}`").alias(f.name.replace(".", DOT)))
    return df.select(*cols, F.input_file_name().alias("_source"),
                     F.monotonically_increasing_id().cast("string").alias("_row"))  # fmt: skip


VALIDATED = "mention string, model_text string, error string, source string, ref string"


def _validate_batches(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """Each record as the API's ``Mention`` (JSON) plus the text the model sees, or why not."""
    from model.base import model_input

    for pdf in batches:
        out: dict[str, list] = {"mention": [], "model_text": [], "error": [], "source": [], "ref": []}
        for raw in pdf.to_dict("records"):
            record = {str(k).replace(DOT, "."): v for k, v in raw.items()}
            source, row = record.pop("_source"), record.pop("_row")
            corrupt = record.pop("_corrupt_record", None)
            checked = "invalid JSON" if isinstance(corrupt, str) else validate(record, default_id=row)
            ok = isinstance(checked, Mention)
            out["mention"].append(checked.model_dump_json() if ok else None)
            out["model_text"].append(model_input(checked.text, checked.context) if ok else None)
            out["error"].append(None if ok else checked)
            out["source"].append(source or "")
            out["ref"].append(checked.id if ok else str(record.get("id") or f"row {row}"))
        yield pd.DataFrame(out)


@cache
def _languages():
    from serving.language import LanguageIdentifier

    return LanguageIdentifier()


@dataclass(frozen=True)
class _Scoring:
    """What every partition needs to finish a row as the API does (pickled to the executors)."""

    name: str
    version: str
    family: str
    thresholds: dict[str, float] | None
    policy: object
    templates: object
    clock: Clock
    fmt: str

    def __call__(self, batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        from model.loading import LoadedModel
        from serving.batch_rows import score_chunk

        for pdf in batches:
            mentions = [Mention.model_validate_json(s) for s in pdf["mention"]]
            probas = {h.name: pdf[[f"{h.name}{DOT}{label}" for label in h.labels]].to_numpy(dtype=float)
                      for h in HEADS}  # fmt: skip
            runtime = PrecomputedRuntime(probas)
            model = LoadedModel(self.name, self.version, self.family, runtime, self.thresholds)
            rows = score_chunk(mentions, model, self.policy, _languages(), self.templates, self.clock)
            if self.fmt == "jsonl":
                yield pd.DataFrame({"value": [json_line(r) for r in rows]})
            elif self.fmt == "csv":
                yield pd.DataFrame([csv_row(r) for r in rows], columns=COLUMNS)
            else:
                yield pd.DataFrame([flat_row(r) for r in rows], columns=COLUMNS)

    def schema(self):
        from pyspark.sql.pandas.types import from_arrow_schema
        from pyspark.sql.types import StringType, StructField, StructType

        if self.fmt == "jsonl":
            return StructType([StructField("value", StringType())])
        if self.fmt == "csv":
            return StructType([StructField(c, StringType()) for c in COLUMNS])
        return from_arrow_schema(SCHEMA)


@dataclass
class SparkSummary:
    output: str
    model: dict[str, str]
    master: str
    scored: int
    skipped: int
    seconds: float

    @property
    def rows_per_s(self) -> float:
        return self.scored / self.seconds if self.seconds > 0 else 0.0


def score_spark(
    spark: SparkSession,
    src: str,
    out: str,
    *,
    alias: str = "champion",
    version: str | None = None,
    partitions: int | None = None,
    input_format: str | None = None,
    on_error: str = "skip",
    as_of: str = "arrival",
    report: Callable[[str], None] = print,
) -> SparkSummary:
    """Score ``src`` into the folder ``out`` (Spark's part files, format by extension); bad rows
    go to ``OUT.errors`` (JSON Lines) and are counted, or fail the job before any scoring."""
    import mlflow.pyfunc
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    from model.loading import load_version, resolve_alias
    from model.priority import Policy
    from model.settings import configure_mlflow, get_settings
    from serving.reply_templates import ReplyTemplates
    from serving.settings import get_serve_settings

    fmt = file_format(Path(out))
    began = time.perf_counter()
    spark.conf.set("spark.sql.session.timeZone", "UTC")  # naive times are UTC, as in the API
    spark.conf.set("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
    settings, serve = get_settings(), get_serve_settings()
    configure_mlflow(settings)
    name = settings.registered_model
    version = version or resolve_alias(name, alias)  # one version for the whole job
    loaded = load_version(name, version)  # its tuned tier thresholds; fails early if not ours
    scoring = _Scoring(
        name, loaded.version, loaded.family, loaded.tier_thresholds, Policy.load(serve.policy),
        ReplyTemplates.load(serve.reply_templates), Clock.parse(as_of, datetime.now(UTC)), fmt,
    )  # fmt: skip

    df = _mention_columns(read_mentions(spark, src, input_format))
    wanted = partitions or max(df.rdd.getNumPartitions(), spark.sparkContext.defaultParallelism)
    if wanted != df.rdd.getNumPartitions():
        df = df.repartition(wanted)
    validated = df.mapInPandas(_validate_batches, VALIDATED).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        total = validated.count()
        errors = validated.where(F.col("error").isNotNull()).select("source", "ref", "error")
        skipped = errors.count()
        shown = [f"{r.source or src}: {r.ref}: {r.error}" for r in errors.limit(MAX_REPORTED).collect()]
        if skipped and on_error == "fail":
            raise BatchError(f"{skipped} bad row(s), e.g. " + "; ".join(shown[:3]))
        for line in shown:
            report(line)
        errors.write.mode("overwrite").json(f"{out}.errors")  # also when empty: no stale list stays
        if skipped:
            report(f"{skipped:,} bad row(s) skipped, all listed in {out}.errors/")
        udf = mlflow.pyfunc.spark_udf(
            spark, f"models:/{name}/{loaded.version}", env_manager="local", result_type=prediction_type()
        )
        predicted = (
            validated.where(F.col("error").isNull())
            .withColumn("prediction", udf(F.col("model_text")))
            .select("mention", *[F.col("prediction").getField(c).alias(c.replace(".", DOT))
                                 for c in PROBABILITIES])  # fmt: skip
        )
        result = predicted.mapInPandas(scoring, scoring.schema())
        writer = result.write.mode("overwrite")
        if fmt == "jsonl":
            writer.text(out)
        elif fmt == "csv":
            writer.options(header=True, escape='"').csv(out)
        else:
            writer.parquet(out)
    finally:
        validated.unpersist()
    model = {"name": name, "version": loaded.version, "family": loaded.family}
    master = spark.sparkContext.master
    return SparkSummary(out, model, master, total - skipped, skipped, time.perf_counter() - began)


if __name__ == "__main__":  # spark-submit serving/spark_scoring.py IN OUT [options]
    import typer

    from serving.batch_cli import app

    typer.main.get_command(app)(["score-spark", *sys.argv[1:]])
