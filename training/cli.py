"""`webcare train | promote | validate`: the data scientist's commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from model.dataset import dataset_files, iter_errors
from model.reply_history import CENSOR_HOURS
from model.settings import get_settings

app = typer.Typer(no_args_is_help=True)
data_app = typer.Typer(no_args_is_help=True, help="Inspect training data sources.")
app.add_typer(data_app, name="data")
console = Console()


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print one unwrapped error line (file:line stays greppable) and return the exit."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)

DataOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--data", "-d", help="dataset file or folder (repeatable); default: seed + latest version"
    ),
]


def _sources(data: list[Path] | None) -> list[Path]:
    from training.data import default_sources

    if data:
        for path in data:
            if not path.exists():
                raise fail(f"{path}: no such file or directory")
        return list(data)
    return default_sources(get_settings())


def _is_label_file(path: Path) -> bool:
    return path.suffix.lower() == ".csv"


def _unknown_ids(path: Path) -> str | None:
    """Count labelled tweet ids the pools do not hold (None when the pools are absent)."""
    from model.real_labels import load_real

    settings = get_settings()
    if not settings.shared_datasets.is_dir():
        return f"{path}: tweet ids not checked: {settings.shared_datasets} is absent"
    real = load_real(path, settings.shared_datasets)
    if real.missing_ids:
        return f"{path}: {real.missing_ids} tweet id(s) not found in the pools"
    return None


@app.command()
def validate(
    paths: Annotated[
        list[Path], typer.Argument(help="JSONL dataset files or folders, or real label CSVs")
    ],
) -> None:
    """Check dataset files; print `file:line: reason` per bad row and exit 1 if any.

    A ``.csv`` is a real label file (data/real/labels.csv): its rows are checked and,
    when ../shared/datasets is there, its tweet ids are looked up in the pools.
    """
    from model.real_labels import iter_label_errors

    bad = 0
    n_files = 0
    for root in paths:
        if root.is_dir():
            files = dataset_files(root) + sorted(root.glob("labels*.csv"))
            if not files:
                typer.echo(f"{root}: no dataset files (*.jsonl or labels*.csv)", err=True)
                bad += 1
        else:
            files = [root]
        for file in files:
            n_files += 1
            if _is_label_file(file):
                errors = list(iter_label_errors(file))
                if not errors and (note := _unknown_ids(file)):
                    if "not found" in note:
                        errors.append(note)
                    else:
                        typer.echo(note, err=True)
            else:
                errors = list(iter_errors(file))
            for message in errors:
                bad += 1
                typer.echo(message, err=True)
    if bad:
        raise fail(f"{bad} error(s) in {n_files} file(s)", 1)
    console.print(f"ok: {n_files} file(s) valid", markup=False)


@app.command()
def train(
    model: Annotated[
        str, typer.Option("--model", "-m", help="baseline or transformer")
    ] = "baseline",
    data: DataOpt = None,
    public: Annotated[
        str | None,
        typer.Option(
            help="also train/evaluate on public sets from WEBCARE_SHARED_DATASETS: "
            "comma-separated airline,complaints,tweeteval,dutch (or all)"
        ),
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="transformer: epochs")] = None,
    base_model: Annotated[
        str | None, typer.Option(help="transformer: HF path or id (default: WEBCARE_BASE_MODEL)")
    ] = None,
    layers: Annotated[
        int | None,
        typer.Option(help="transformer: keep this many encoder layers (a faster layer-reduced student)"),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="transformer: continue from the last checkpoint of the same run "
            "(var/checkpoints/transformer/<run key>/)",
        ),
    ] = False,
    no_register: Annotated[bool, typer.Option("--no-register", help="log the run only")] = False,
    real: Annotated[
        bool,
        typer.Option(
            "--real/--no-real",
            help="add the team's labelled real mentions (data/real/labels.csv, texts from "
            "../shared/datasets) when they load",
        ),
    ] = True,
    replied: Annotated[
        str | None,
        typer.Option(
            help="add weak needs_reply rows (answered = yes) to TRAINING only, from reply "
            "histories: comma-separated orangebe,twcs (pools) or a history CSV path; off by "
            "default (measured: lowers needs_reply F1, see docs/benchmarks.md)"
        ),
    ] = None,
    censor_hours: Annotated[
        float, typer.Option(help="--replied: unanswered turns this close to the history's end are left out")
    ] = CENSOR_HOURS,
) -> None:
    """Train a model family on the datasets, log it to MLflow and register it."""
    from model.dataset import DatasetError
    from training.families import get_family
    from training.train import train as run_training

    settings = get_settings()
    options: dict[str, object] = {}
    if epochs is not None:
        options["epochs"] = epochs
    if base_model is not None:
        options["base_model"] = base_model
    if resume:
        options["resume"] = True
    if layers is not None:
        options["layers"] = layers
    try:
        family = get_family(model, **options)
        result = run_training(
            family,
            _sources(data),
            settings,
            register=not no_register,
            log=console.print,
            public=public or (),
            real=real,
            replied=[n for n in (replied or "").split(",") if n.strip()],
            censor_hours=censor_hours,
        )
    except (DatasetError, ValueError, FileNotFoundError, RuntimeError) as exc:
        raise fail(str(exc)) from None
    table = Table("head", "validation macro-F1", "test macro-F1", "test accuracy")
    from model.taxonomy import HEAD_NAMES

    for head in HEAD_NAMES:
        m = result.metrics
        if f"test.{head}.macro_f1" in m:
            table.add_row(
                head,
                f"{m.get(f'validation.{head}.macro_f1', float('nan')):.3f}",
                f"{m[f'test.{head}.macro_f1']:.3f}",
                f"{m[f'test.{head}.accuracy']:.3f}",
            )
    console.print(table)
    if any(k.startswith("test.real.") for k in result.metrics):
        console.print(real_table(result.metrics))
    where = f"registered as version {result.version} ({result.alias})" if result.version else ""
    console.print(f"run {result.run_id} {where}")
    from model.dataset_versions import mlflow_params  # the versions the run logged as data.versions

    console.print(f"dataset versions used: {mlflow_params(_sources(data)).get('data.versions') or 'none'}")


def real_table(m: dict[str, float]) -> Table:
    """Test macro-F1 on the real random-sample rows, overall and per language."""
    from model.real_labels import PRODUCT_LANGS
    from model.taxonomy import HEAD_NAMES

    langs = [lang for lang in PRODUCT_LANGS if any(f".lang.{lang}." in k for k in m if "real" in k)]
    table = Table("head (real test)", "n", "macro-F1", *langs, title="real labelled mentions")
    for head in HEAD_NAMES:
        key = f"test.real.{head}"
        if f"{key}.macro_f1" not in m:
            continue
        per_lang = [f"{m[k]:.3f}" if (k := f"{key}.lang.{lang}.macro_f1") in m else "-" for lang in langs]
        table.add_row(head, f"{m[f'{key}.n']:.0f}", f"{m[f'{key}.macro_f1']:.3f}", *per_lang)
    return table


@app.command()
def promote(
    data: DataOpt = None,
    force: Annotated[bool, typer.Option(help="promote even if worse on some head")] = False,
    tolerance: Annotated[
        float, typer.Option(help="macro-F1 loss allowed beyond the bootstrap interval")
    ] = 0.02,
) -> None:
    """Make the challenger champion unless it is worse beyond noise on some head, overall or
    on Dutch, over the frozen test splits available (seed, real, public)."""
    from training.registry import PromotionError, compare
    from training.registry import promote as run_promote

    settings = get_settings()
    try:
        cmp = compare(settings, _sources(data), tolerance)
    except PromotionError as exc:
        raise fail(str(exc)) from None
    table = Table("scope", "head", "n", f"champion v{cmp.champion}", f"challenger v{cmp.challenger}",
                  "delta", "95% interval")  # fmt: skip
    for (scope, head), c in cmp.scores.items():
        table.add_row(scope, head, str(c.n), f"{c.champion:.3f}", f"{c.challenger:.3f}",
                      f"{c.delta:+.3f}", f"[{c.low:+.3f}, {c.high:+.3f}]")  # fmt: skip
    console.print(table)
    used = ", ".join(f"{k} {v}" for k, v in sorted((cmp.sources or {}).items()))
    console.print(f"same {cmp.n_test} test rows for both models ({used}); refused only when a "
                  f"head's whole interval lies below -{cmp.tolerance}", markup=False)  # fmt: skip
    try:
        run_promote(settings, cmp, force=force)
    except PromotionError as exc:
        raise fail(f"not promoted: {exc}", 1) from None
    console.print(f"champion is now version {cmp.challenger}")


@data_app.command("replied-agreement")
def replied_agreement(
    source: Annotated[
        list[str] | None,
        typer.Option(help="orangebe, twcs or a history CSV path (repeatable); default both pools"),
    ] = None,
    censor_hours: Annotated[
        float, typer.Option(help="unanswered turns this close to the history's end are left out")
    ] = CENSOR_HOURS,
) -> None:
    """How well "the team answered" agrees with the team's needs_reply labels (data/real).

    Per source and language: n, confusion matrix, precision and recall of replied vs
    needs_reply = yes, and Cohen's kappa. Only tweets in both the history and the labels count.
    """
    from model.dataset import DatasetError
    from model.real_labels import load_real
    from model.reply_history import agreement, load_replied

    settings = get_settings()
    try:
        histories = load_replied(source or ["orangebe", "twcs"], settings.shared_datasets,
                                 censor_hours=censor_hours)  # fmt: skip
        real = load_real(settings.real_labels, settings.shared_datasets)
    except (DatasetError, ValueError, FileNotFoundError) as exc:
        raise fail(str(exc)) from None
    for history in histories:
        console.print(history.summary(), markup=False)
    if real.skipped:
        raise fail(real.summary())
    result = agreement([label for h in histories for label in h.labels], real.rows)
    if not result:
        raise fail("no turn of these histories has a real needs_reply label to compare with", 1)
    table = Table("scope", "n", "tp", "fp", "fn", "tn", "precision", "recall", "kappa",
                  title="replied vs needs_reply = yes (Cohen's kappa)",
                  caption="tp replied+yes, fp replied+no, fn unanswered+yes, tn unanswered+no")  # fmt: skip
    for scope, a in result.items():
        name = scope.replace("source:real-", "").replace("lang:", "").replace("/", " ")
        table.add_row(name, str(a.n), str(a.tp), str(a.fp), str(a.fn), str(a.tn),
                      f"{a.precision:.3f}", f"{a.recall:.3f}", f"{a.kappa:.3f}")  # fmt: skip
    console.print(table)
