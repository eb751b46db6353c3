"""`webcare label server|init|import|export|real-agreement`: the labeling workflow's commands.

Failures print one ``error:`` line naming the file/line or the server and exit
non-zero: 2 for bad input files, 1 for server, connection and registry problems.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from model.settings import Settings

if TYPE_CHECKING:
    from label_studio_sdk import LabelStudio

    from labeling.client import Connection

app = typer.Typer(no_args_is_help=True, help="Label Studio workflow for labelers.")
server_app = typer.Typer(no_args_is_help=True, help="Run the embedded local Label Studio.")
app.add_typer(server_app, name="server")
console = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True, soft_wrap=True, highlight=False)

ProjectOpt = Annotated[
    str | None,
    typer.Option("--project", "-p", help="project title (default: WEBCARE_LS_PROJECT or "
                 "webcare-triage)"),
]  # fmt: skip


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/] {escape(message)}", highlight=False)
    return typer.Exit(code)


@contextlib.contextmanager
def _errors() -> Iterator[None]:
    """Expected failures become one line and an exit code, never a traceback."""
    from labeling.client import LabelingError
    from labeling.server import ServerError
    from labeling.sources import SourceError

    try:
        yield
    except SourceError as exc:
        raise _fail(str(exc), 2) from None
    except (LabelingError, ServerError) as exc:
        raise _fail(str(exc), 1) from None


def _title(project: str | None) -> str:
    from labeling.client import project_title

    return project or project_title()


def _connect(settings: Settings) -> tuple[Connection, LabelStudio]:
    from labeling.client import connect, resolve_connection

    conn = resolve_connection(settings)
    return conn, connect(conn)


@server_app.command("start")
def server_start(
    port: Annotated[
        int | None, typer.Option(help="port on 127.0.0.1 (default 8080 or WEBCARE_LS_PORT)")
    ] = None,  # fmt: skip
    timeout: Annotated[float, typer.Option(help="seconds to wait for the server")] = 300.0,
) -> None:
    """Start the local Label Studio (first start: ~30 s of migrations, admin created)."""
    from labeling import server

    settings = Settings()
    data_dir = server.default_data_dir(settings)
    with _errors():
        server.executable(server.default_venv())
        if server.running(data_dir) is None:
            err.print("starting Label Studio (the first start migrates its database: ~30 s)")
        result = server.start(data_dir, port=port or server.default_port(), timeout=timeout)
    state = result.state
    if result.already_running:
        console.print(f"Label Studio is already running at {state.url} (pid {state.pid})")
        return
    console.print(f"Label Studio is running at {state.url} (pid {state.pid}), data in {data_dir}")
    if result.first_start:
        creds = result.credentials
        console.print(
            "[bold]Admin account created; shown once, stored (mode 600) in "
            f"{data_dir / server.CREDENTIALS}:[/]\n"
            f"  login:     {creds.username}\n  password:  {creds.password}\n"
            f"  API token: {creds.token}",
            highlight=False,
        )


@server_app.command("stop")
def server_stop() -> None:
    """Stop the local Label Studio (SIGTERM)."""
    from labeling import server

    state = server.stop(server.default_data_dir(Settings()))
    if state is None:
        console.print("Label Studio is not running")
    else:
        console.print(f"stopped Label Studio (pid {state.pid}, {state.url})")


@server_app.command("status")
def server_status() -> None:
    """Show which server the label commands use and whether it answers; exit 1 if not."""
    from labeling import server
    from labeling.client import connect, resolve_connection

    settings = Settings()
    data_dir = server.default_data_dir(settings)
    local = server.running(data_dir)
    if local is not None:
        console.print(f"local server: running at {local.url} (pid {local.pid}), data in {data_dir}")
    else:
        console.print(f"local server: not running (data dir {data_dir})")
    with _errors():
        conn = resolve_connection(settings)
        user = connect(conn).users.whoami()
    console.print(f"using {conn.url} (credentials from {conn.origin}): OK, user id {user.id}")


@app.command()
def init(
    project: ProjectOpt = None,
    guidelines: Annotated[
        Path | None,
        typer.Option(help="Markdown shown as instructions (default docs/labeling-guidelines.md)"),
    ] = None,  # fmt: skip
    overlap: Annotated[
        int | None, typer.Option(min=1, help="annotators per overlapping task (default 2)")
    ] = None,
    overlap_percent: Annotated[
        int | None,
        typer.Option(min=0, max=100, help="percent of tasks that overlap (default 20)"),
    ] = None,
) -> None:
    """Create the labeling project from the taxonomy, or update it in place."""
    from labeling.client import api_errors
    from labeling.project import ensure_project

    if guidelines is not None and not guidelines.is_file():
        raise _fail(f"{guidelines}: no such file", 2)
    settings = Settings()
    title = _title(project)
    with _errors():
        conn, ls = _connect(settings)
        with api_errors(conn.url):
            result = ensure_project(
                ls, title, guidelines=guidelines, overlap=overlap, overlap_percent=overlap_percent
            )
    verb = "created" if result.created else "updated"
    console.print(f"{verb} project {title!r} (id {result.project_id}) at "
                  f"{conn.url}/projects/{result.project_id}")  # fmt: skip
    if not result.created:
        console.print("labeling config " + ("changed" if result.config_changed else "unchanged"))
    if result.guidelines is None:
        console.print("[yellow]docs/labeling-guidelines.md not found:[/] instructions were "
                      "generated from the taxonomy")  # fmt: skip


@contextlib.contextmanager
def _progress(enabled: bool) -> Iterator:
    """A progress bar on stderr for predict/upload stages (only on a terminal)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    bar = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        console=err, transient=True, disable=not (enabled and err.is_terminal),
    )  # fmt: skip
    ids: dict[str, int] = {}

    def update(stage: str, done: int, total: int) -> None:
        if stage not in ids:
            ids[stage] = bar.add_task(stage, total=total)
        bar.update(ids[stage], completed=done, total=total)

    with bar:
        yield update


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="CSV, JSONL or a public dataset file")],
    project: ProjectOpt = None,
    fmt: Annotated[
        str, typer.Option("--format", help="auto, csv, jsonl, twcs, orangebe or airline")
    ] = "auto",
    top_k: Annotated[
        int | None, typer.Option(min=1, help="import only the K most useful mentions")
    ] = None,
    strategy: Annotated[str, typer.Option(help="uncertainty: margin or entropy")] = "margin",
    dup_threshold: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="near-duplicate Jaccard threshold")
    ] = 0.7,
    text_column: Annotated[str, typer.Option(help="CSV/JSONL field with the text")] = "text",
    no_model: Annotated[bool, typer.Option("--no-model", help="skip model predictions")] = False,
) -> None:
    """Import mentions as tasks, pre-annotated by the champion and ranked by uncertainty."""
    from labeling.active_learning import STRATEGIES
    from labeling.client import api_errors, require_project
    from labeling.importers import import_mentions, load_champion
    from labeling.sources import read_mentions

    if strategy not in STRATEGIES:
        raise _fail(f"unknown --strategy {strategy!r} (expected margin or entropy)", 2)
    settings = Settings()
    title = _title(project)
    with _errors():
        read = read_mentions(file, fmt, text_column=text_column)
        console.print(
            f"read {len(read.mentions)} mentions from {escape(str(file))} (format {read.format})"
        )
        for count, what in ((read.skipped_empty, "empty"), (read.skipped_long, "over 1000 chars")):
            if count:
                console.print(f"  skipped {count} {what}")
        conn, ls = _connect(settings)
        with api_errors(conn.url):
            target = require_project(ls, title)
            predictor = None
            if no_model:
                console.print("no predictions (--no-model); file order is kept")
            else:
                predictor, note = load_champion(settings)
                if predictor is None:
                    console.print(f"[yellow]{escape(note)}:[/] importing without predictions, "
                                  "in file order")  # fmt: skip
                else:
                    console.print(f"pre-annotations from {escape(note)}")
            with _progress(len(read.mentions) > 200) as progress:
                report = import_mentions(
                    ls, target.id, read.mentions, predictor=predictor, top_k=top_k,
                    strategy=strategy, dup_threshold=dup_threshold, progress=progress,
                    url=conn.url,
                )  # fmt: skip
    skipped = (
        f"{report.duplicates_in_file} duplicate(s) in the file, "
        f"{report.already_in_project} already in the project, "
        f"{report.near_duplicates} near-duplicate(s)"
    )
    if report.not_selected:
        skipped += f", {report.not_selected} below the top {top_k}"
    console.print(f"skipped {skipped}")
    how = f"ranked by {strategy} uncertainty" if report.model_version else "in file order"
    console.print(
        f"imported {report.imported} task(s) into {title!r} (id {target.id}), {how}; "
        f"{report.with_predictions} with predictions"
    )


@app.command()
def export(
    project: ProjectOpt = None,
    out: Annotated[
        Path | None,
        typer.Option(help="datasets dir (default data/versions or WEBCARE_DATASETS_DIR)"),
    ] = None,
) -> None:
    """Write the resolved annotations as a new dataset version (if anything changed)."""
    from labeling.client import api_errors, iter_tasks, require_project
    from labeling.export import PUBLIC_ORIGINS, build_snapshot, public_url, write_version

    settings = Settings()
    root = out or settings.datasets_dir
    title = _title(project)
    with _errors():
        conn, ls = _connect(settings)
        with api_errors(conn.url):
            target = require_project(ls, title)
            tasks = list(iter_tasks(ls, target.id, with_annotations=True))
    snapshot = build_snapshot(tasks, project_id=target.id, base_url=conn.url)
    source = {
        "kind": "labelstudio",
        "url": public_url(conn.url),
        "project_id": target.id,
        "project_title": title,
    }
    try:
        result = write_version(snapshot, root, source=source)
    except OSError as exc:
        raise _fail(f"{root}: cannot write the dataset version: {exc.strerror or exc}") from None
    _print_agreement(snapshot.agreement)
    c = snapshot.counts
    console.print(
        f"{c['tasks']} task(s), {c['annotations']} usable annotation(s), "
        f"{c['cancelled_annotations']} cancelled/skipped; {c['rows']} row(s), "
        f"{c['conflicts']} conflict(s)"
    )
    public = {k: n for k, n in c["per_origin"].items() if k in PUBLIC_ORIGINS}
    if public and result.created:
        names = ", ".join(f"{n} from {k}" for k, n in sorted(public.items()))
        err.print(
            f"[yellow]warning:[/] {names}: public data sets must not be committed to this "
            f"repository; keep {result.path} out of git or export with --out elsewhere"
        )
    for bad in snapshot.invalid:
        err.print(f"[yellow]warning:[/] task {bad['task_id']} left out: {escape(bad['reason'])}")
    if result.created:
        console.print(f"wrote {result.path} (sha256 {result.manifest['sha256'][:12]}…)")
    else:
        console.print(f"no changes since {result.version}: nothing written")


def _print_agreement(agreement: dict) -> None:
    table = Table("head", "Krippendorff α", "Cohen κ per annotator pair", "tasks ≥2 ann.")
    for head, values in agreement.items():
        alpha = values["krippendorff_alpha"]
        pairs = ", ".join(
            f"{a}-{b}: {'n/a' if p['kappa'] is None else format(p['kappa'], '.3f')} (n={p['n']})"
            for p in values["cohen_kappa"]
            for a, b in [p["annotators"]]
        )
        table.add_row(
            head,
            "n/a" if alpha is None else f"{alpha:.3f}",
            pairs or "-",
            str(values["multi_annotated_tasks"]),
        )
    console.print(table)


@app.command("import-feedback")
def import_feedback(
    project: ProjectOpt = None,
) -> None:
    """Send agents' corrections from the API's feedback store to Label Studio for review.

    Each correction becomes a task pre-filled with the agent's labels; sent ones
    are marked so a re-run sends only new feedback. Texts were masked on arrival.
    """
    from labeling.client import api_errors, require_project
    from labeling.importers import Prefill, import_mentions
    from labeling.sources import Mention
    from model.feedback import FeedbackStore, feedback_url

    settings = Settings()
    store = FeedbackStore(feedback_url(settings.var_dir))
    pending = store.pending()
    if not pending:
        console.print("no new feedback to send")
        return
    mentions = [Mention(text=f.text, lang=f.lang, origin="feedback", source_id=f.mention_id)
                for f in pending]  # fmt: skip
    prefill = [
        Prefill({k: v for k, v in f.labels.items() if v is not None}, "agent-feedback")
        for f in pending
    ]
    title = _title(project)
    with _errors():
        conn, ls = _connect(settings)
        with api_errors(conn.url):
            target = require_project(ls, title)
            report = import_mentions(
                ls, target.id, mentions, prefill=prefill, dup_threshold=1.01, url=conn.url
            )
    store.mark_sent([f.id for f in pending])
    console.print(
        f"sent {report.imported} of {len(pending)} correction(s) to {title!r} (id {target.id}) "
        f"for review; {report.already_in_project} already there"
    )


@app.command("real-agreement")
def real_agreement(
    passes: Annotated[Path, typer.Argument(help="passes file with pass 1 and 2 rows")] = Path(
        "data/real/passes.csv"
    ),
) -> None:
    """Cohen's kappa and raw agreement per head between the two real-label passes."""
    from labeling.real_passes import agreement_file

    if not passes.is_file():
        raise _fail(f"{passes}: no such file", 2)
    try:
        result = agreement_file(passes)
    except ValueError as exc:
        raise _fail(str(exc), 2) from None
    table = Table("head", "doubly labelled", "Cohen's kappa", "raw agreement")
    for head, r in result.items():
        kappa = "n/a" if r["kappa"] is None else f"{r['kappa']:.3f}"
        raw = "n/a" if r["raw_agreement"] is None else f"{r['raw_agreement']:.1%}"
        table.add_row(head, str(r["n"]), kappa, raw)
    console.print(table)
