"""`webcare label server|init|add-user|import|export|real-agreement`: the labeling commands.

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
    from labeling.importers import ImportReport

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
    console.print(
        f"queue: {result.overlap} labelers on {result.overlap_percent}% of the tasks, those first; "
        "then the rest in rank order; the model's guess is shown, never pre-selected"
    )
    console.print("task list tab 'Most uncertain first': mention, context, language, model guess, "
                  "uncertainty (admin columns hidden)")  # fmt: skip
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


@app.command("add-user")
def add_user(
    email: Annotated[str, typer.Argument(help="the labeler's e-mail address (their login)")],
) -> None:
    """Create a labeler account and print its login once (the password is stored nowhere)."""
    from labeling.client import api_errors
    from labeling.users import add_user as create
    from labeling.users import is_email

    if not is_email(email):
        raise _fail(f"{email!r} is not an e-mail address", 2)
    with _errors():
        conn, ls = _connect(Settings())
        with api_errors(conn.url):
            user = create(ls, conn.url, email)
    console.print(
        f"[bold]Created Label Studio user {user.id}; shown once, give it to the labeler:[/]\n"
        f"  address:   {conn.url}\n  login:     {user.email}\n  password:  {user.password}\n"
        "They can change the password under Account & Settings. In Label Studio Community "
        "every member sees every project and task (see docs/labeling.md, For admins).",
        highlight=False,
    )


def _subset(mentions: list, limit: int | None, sample: int | None, seed: int) -> tuple[list, str]:
    """The first N or a seeded random N mentions (same file, same seed: same mentions)."""
    if limit is not None:
        return mentions[:limit], f"the first {min(limit, len(mentions))}"
    if sample is not None and sample < len(mentions):
        import random

        picked = sorted(random.Random(seed).sample(range(len(mentions)), sample))
        return [mentions[i] for i in picked], f"a random {sample} (seed {seed})"
    return mentions, ""


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="CSV, JSONL or a public dataset file")],
    project: ProjectOpt = None,
    fmt: Annotated[
        str, typer.Option("--format", help="auto, csv, jsonl, twcs, orangebe or airline")
    ] = "auto",
    top_k: Annotated[
        int | None,
        typer.Option(min=1, help="the K most uncertain mentions of the file; those already in "
                     "the project count, so a re-run adds nothing"),
    ] = None,  # fmt: skip
    next_k: Annotated[
        bool, typer.Option("--next", help="with --top-k: the next K not yet in the project")
    ] = False,
    limit: Annotated[int | None, typer.Option(min=1, help="read only the first N mentions")] = None,
    sample: Annotated[
        int | None, typer.Option(min=1, help="read a random N mentions (see --seed)")
    ] = None,
    seed: Annotated[int, typer.Option(help="random seed for --sample")] = 0,
    other_languages: Annotated[
        str,
        typer.Option(help="mentions outside nl, en, da, fr: skip, flag (import last, marked) "
                     "or keep"),
    ] = "skip",  # fmt: skip
    keep_handle: Annotated[
        list[str] | None,
        typer.Option(help="brand @handle to keep (repeatable or comma-separated); every other "
                     "handle becomes @user"),
    ] = None,  # fmt: skip
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
    from labeling.importers import LANGUAGE_POLICIES, import_mentions, load_champion
    from labeling.sources import read_mentions

    if strategy not in STRATEGIES:
        raise _fail(f"unknown --strategy {strategy!r} (expected margin or entropy)", 2)
    if other_languages not in LANGUAGE_POLICIES:
        raise _fail(f"unknown --other-languages {other_languages!r} (expected skip, flag or keep)", 2)
    if next_k and top_k is None:
        raise _fail("--next needs --top-k K (it adds the next K)", 2)
    if limit is not None and sample is not None:
        raise _fail("use --limit or --sample, not both", 2)
    keep = [h.strip() for value in keep_handle or [] for h in value.split(",") if h.strip()]
    settings = Settings()
    title = _title(project)
    with _errors():
        read = read_mentions(file, fmt, text_column=text_column, keep_handles=keep)
        console.print(
            f"read {len(read.mentions)} mentions from {escape(str(file))} (format {read.format})"
        )
        for count, what in ((read.skipped_empty, "empty"), (read.skipped_long, "over 1000 chars")):
            if count:
                console.print(f"  skipped {count} {what}")
        mentions, subset = _subset(read.mentions, limit, sample, seed)
        if subset:
            console.print(f"  using {subset} of them")
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
            with _progress(len(mentions) > 200) as progress:
                report = import_mentions(
                    ls, target.id, mentions, predictor=predictor, top_k=top_k, next_k=next_k,
                    strategy=strategy, dup_threshold=dup_threshold, languages=other_languages,
                    progress=progress, url=conn.url,
                )  # fmt: skip
    _print_import(report, top_k, next_k, other_languages, strategy, title, target.id)


def _print_import(
    report: ImportReport, top_k: int | None, next_k: bool, policy: str, strategy: str, title: str,
    project_id: int,
) -> None:  # fmt: skip
    """The import's summary: what --top-k meant, what was skipped and why, what was imported."""
    if top_k is not None:
        if next_k:
            console.print(f"--top-k {top_k} --next: the {top_k} most uncertain mentions not yet in "
                          "the project")  # fmt: skip
        else:
            console.print(f"--top-k {top_k}: the {top_k} most uncertain mentions of the file; "
                          f"{report.top_k_in_project} of them already in the project")  # fmt: skip
    skipped = (
        f"{report.duplicates_in_file} duplicate(s) in the file, "
        f"{report.already_in_project} already in the project, "
        f"{report.near_duplicates} near-duplicate(s)"
    )
    if report.not_selected:
        skipped += f", {report.not_selected} below the top {top_k}"
    langs = ", ".join(f"{lang} {n}" for lang, n in report.other_language.most_common())
    n_other = sum(report.other_language.values())
    if n_other and policy == "skip":
        skipped += f", {n_other} outside the product's languages ({langs})"
    console.print(f"skipped {skipped}")
    if n_other and policy == "flag":
        console.print(f"flagged {n_other} outside the product's languages ({langs}): imported "
                      "last, data.other_language = true")  # fmt: skip
    how = f"ranked by {strategy} uncertainty" if report.model_version else "in file order"
    ranks = (f", ranks {report.first_rank}-{report.first_rank + report.imported - 1}"
             if report.imported else "")  # fmt: skip
    console.print(
        f"imported {report.imported} task(s) into {title!r} (id {project_id}){ranks}, {how}; "
        f"{report.with_predictions} with a pre-annotation"
    )
    if top_k is not None and not next_k and report.imported == 0:
        console.print(f"nothing new among the file's top {top_k}: --next imports the next {top_k}")


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
        f"{c['cancelled_annotations']} cancelled/skipped, {c['doubly_labelled_mentions']} "
        f"doubly labelled; {c['rows']} row(s), {c['conflicts']} conflict(s)"
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
    for moved in snapshot.reattributed:
        err.print(
            f"[yellow]warning:[/] task {moved['task_id']}: annotation {moved['annotation_id']} by "
            f"user {moved['completed_by']} was last saved by user {moved['updated_by']}; its labels "
            f"count as user {moved['updated_by']}'s (Label Studio Community keeps no history, so "
            "the first labels are gone; the embedded server refuses such edits)"
        )
    if result.created:
        console.print(f"wrote {result.path} (sha256 {result.manifest['sha256'][:12]}…)")
    else:
        console.print(f"no changes since {result.version}: nothing written")


def _print_agreement(agreement: dict) -> None:
    """Raw agreement beside kappa and alpha: those are undefined when nobody disagreed."""
    from labeling.agreement import describe

    table = Table("head", "tasks ≥2 ann.", "raw agreement", "Krippendorff α",
                  "Cohen κ per annotator pair")  # fmt: skip
    for head, values in agreement.items():
        raw = values.get("raw_agreement")
        pairs = ", ".join(
            f"{a}-{b}: {describe(p['kappa'], p.get('agreement'))} (n={p['n']})"
            for p in values["cohen_kappa"]
            for a, b in [p["annotators"]]
        )
        table.add_row(
            head,
            str(values["multi_annotated_tasks"]),
            "-" if raw is None else f"{raw:.0%}",
            describe(values["krippendorff_alpha"], raw) if raw is not None else "-",
            pairs or "-",
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
        Prefill({k: v for k, v in f.labels.items() if v is not None}, "agent-feedback",
                title="Agent's correction")
        for f in pending
    ]
    title = _title(project)
    with _errors():
        conn, ls = _connect(settings)
        with api_errors(conn.url):
            target = require_project(ls, title)
            report = import_mentions(  # an agent's correction is reviewed in any language
                ls, target.id, mentions, prefill=prefill, dup_threshold=1.01, languages="keep",
                url=conn.url,
            )  # fmt: skip
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
