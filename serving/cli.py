"""`webcare serve | score | reply | reply-summary` (and the `webcare report` group from serving.report)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from model.settings import CHAMPION, configure_mlflow, get_settings
from serving.report.cli import app as report_app

app = typer.Typer()
app.add_typer(report_app, name="report")
err = Console(stderr=True)

first_model: Callable[[Callable[[str], None]], str] | None = None
"""Trains and registers a first model, returning what it registered: set by the `webcare`
entry point, which composes the stages (serving does not import training)."""


def fail(message: str, code: int = 2) -> typer.Exit:
    """One error line, its text printed literally (``[a-z]`` is not Rich markup here)."""
    err.print("[red]error:[/]", escape(message), highlight=False, soft_wrap=True)
    return typer.Exit(code)


def registry_champion() -> tuple[bool | None, Exception | None]:
    """Whether the registry has a champion: None (and why) when it cannot be read at all."""
    from mlflow.exceptions import MlflowException

    from model.loading import resolve_alias

    try:
        configure_mlflow(get_settings())
        resolve_alias(get_settings().registered_model, CHAMPION)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return False, None
        return None, exc
    except Exception as exc:  # noqa: BLE001 - a broken store raises anything (sqlite, alembic, OS)
        return None, exc
    return True, None


def cached_version() -> str | None:
    """The version the local model cache would serve (``var/model-cache``), if any."""
    settings = get_settings()
    active = settings.model_cache_dir() / settings.registered_model / "active.json"
    try:
        return str(json.loads(active.read_text(encoding="utf-8"))["version"])
    except (OSError, ValueError, KeyError):
        return None


@app.command()
def serve(
    host: Annotated[str, typer.Option(envvar="WEBCARE_HOST")] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="WEBCARE_PORT")] = 8000,
    workers: Annotated[
        int, typer.Option(envvar="WEBCARE_WORKERS", min=1, help="uvicorn worker processes")
    ] = 1,
    train_if_missing: Annotated[
        bool, typer.Option(help="train the baseline on the bundled seed data if no champion")
    ] = True,
) -> None:
    """Serve the scoring API (trains a first model if the registry has no champion)."""
    import os

    import uvicorn

    os.environ["WEBCARE_HOST"] = host
    from pydantic import ValidationError

    from serving.bind import resolve
    from serving.errors import one_line
    from serving.middleware import MAX_HEADER_BYTES
    from serving.settings import ServeSettings

    try:  # the refusals the app would make at start-up, as one line before uvicorn starts
        cfg = ServeSettings(host=host)  # before importing the app, which builds its settings
        from serving.app import preflight

        preflight(cfg, resolve(host))
    except ValidationError as exc:
        raise fail(one_line(exc)) from None
    except (ValueError, RuntimeError, OSError) as exc:
        raise fail(str(exc) if isinstance(exc, ValueError | RuntimeError) else one_line(exc)) from None
    has_champion, problem = registry_champion()
    if has_champion is None:
        version = cached_version()
        reason = one_line(problem or RuntimeError("unreadable"), 160)
        if version is None:
            raise fail(f"model registry unreachable ({reason}) and no local model cache to start from")
        err.print(f"model registry unreachable ({escape(reason)}): starting from the local model cache "
                  f"(version {escape(version)})", highlight=False, soft_wrap=True)  # fmt: skip
    elif not has_champion:
        if not train_if_missing or first_model is None:
            raise fail("no champion model registered; run `webcare train` first")
        err.print("no champion registered: training the baseline on the bundled seed data")
        err.print(first_model(lambda line: err.print(line, markup=False)), markup=False)
    err.print(f"serving on http://{host}:{port}  (docs: http://{host}:{port}/docs)", markup=False)
    uvicorn.run(
        "serving.app:app", host=host, port=port, workers=workers, log_level="warning",
        access_log=False, h11_max_incomplete_event_size=MAX_HEADER_BYTES,
    )


@app.command()
def score(
    text: Annotated[str, typer.Argument(help="the mention to score")],
    lang: Annotated[str | None, typer.Option(help="ISO 639-1; detected if omitted")] = None,
    context: Annotated[str | None, typer.Option(help="the tweet it replies to")] = None,
    followers: Annotated[int, typer.Option(min=0)] = 0,
    alias: Annotated[str, typer.Option(help="registry alias to use")] = CHAMPION,
) -> None:
    """Score one mention with the champion and print the API's JSON."""
    result = _score_one(
        {"id": "cli", "text": text, "lang": lang, "context": context, "author": {"followers": followers}},
        alias,
    )
    typer.echo(json.dumps(result.model_dump(mode="json"), indent=2, ensure_ascii=False))


def _score_one(fields: dict, alias: str, agent: str | None = None):
    """One mention through the API's code path (champion, policy, reply templates)."""
    from mlflow.exceptions import MlflowException
    from pydantic import ValidationError

    from model.loading import load_alias
    from model.priority import Policy
    from serving.language import LanguageIdentifier
    from serving.reply_templates import ReplyTemplates, TemplatesError
    from serving.schemas import Mention, ScoreRequest
    from serving.scoring import score_mentions
    from serving.settings import get_serve_settings

    settings = get_settings()
    configure_mlflow(settings)
    try:
        mention = Mention(**fields, created_at=datetime.now().astimezone())
        ScoreRequest(mentions=[mention], agent=agent)  # the API's limits, e.g. on the agent's name
    except ValidationError as exc:
        first = exc.errors()[0]
        raise fail(f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    serve = get_serve_settings()
    try:
        templates = ReplyTemplates.load(serve.reply_templates)
    except TemplatesError as exc:
        err.print("[red]error:[/]", escape(str(exc)), highlight=False)
        raise typer.Exit(2) from None
    try:
        model = load_alias(settings.registered_model, alias)
    except MlflowException:
        raise fail(f"no model with alias {alias!r}; run `webcare train` first") from None
    policy = Policy.load(serve.policy)
    return score_mentions([mention], model, policy, LanguageIdentifier(), templates=templates, agent=agent)


@app.command()
def reply(
    text: Annotated[str, typer.Argument(help="the mention to answer")],
    name: Annotated[str | None, typer.Option(help="the author's display name (author.name)")] = None,
    agent: Annotated[str | None, typer.Option(help="signature; default: the brand's")] = None,
    lang: Annotated[str | None, typer.Option(help="ISO 639-1; detected if omitted")] = None,
    account: Annotated[str | None, typer.Option(help="brand handle it was sent to, e.g. @VonkNL")] = None,
    mention_id: Annotated[str, typer.Option("--id", help="mention id (fixes the variant)")] = "cli",
    as_json: Annotated[bool, typer.Option("--json", help="print suggested_reply as JSON")] = False,
    alias: Annotated[str, typer.Option(help="registry alias to use")] = CHAMPION,
) -> None:
    """Print the reply the API would suggest for one mention (same code path as /v1/score)."""
    fields = {"id": mention_id, "text": text, "lang": lang, "account": account, "author": {"name": name}}
    result = _score_one(fields, alias, agent).results[0]
    suggestion = result.suggested_reply
    if as_json:
        out = {
            "suggested_reply": suggestion.model_dump(mode="json") if suggestion else None,
            "no_suggestion_reason": result.no_suggestion_reason,
        }
        typer.echo(json.dumps(out, indent=2, ensure_ascii=False))
        return
    if suggestion is None:
        err.print(f"no suggestion: {result.no_suggestion_reason}", markup=False)
        return
    typer.echo(suggestion.text)
    err.print(
        f"[dim]{suggestion.template_id} variant {suggestion.variant} · {len(suggestion.text)} chars · "
        f"intent {result.intent.label} · team {result.routing.team}[/]", soft_wrap=True,
    )
    for why in [*suggestion.reasons, *result.routing.reasons]:
        err.print(f"[dim]- {escape(why)}[/]", highlight=False, soft_wrap=True)


@app.command("reply-summary")
def reply_summary(
    as_json: Annotated[bool, typer.Option("--json", help="print the rows as JSON")] = False,
) -> None:
    """Templates by how often agents sent them as is, edited or replaced (from /v1/feedback)."""
    from rich.table import Table

    from model.feedback import FeedbackStore, feedback_url
    from serving.reply_templates import ReplyTemplates, TemplatesError
    from serving.reply_usage import summarise
    from serving.settings import get_serve_settings

    try:
        templates = ReplyTemplates.load(get_serve_settings().reply_templates)
    except TemplatesError as exc:
        err.print("[red]error:[/]", escape(str(exc)), highlight=False)
        raise typer.Exit(2) from None
    rows = summarise(FeedbackStore(feedback_url(get_settings().var_dir)).replies(), templates)
    if as_json:
        out = [{**vars(r), "sent": r.sent, "rewritten": round(r.rewritten, 3)} for r in rows]
        typer.echo(json.dumps(out, indent=2))
        return
    if not rows:
        err.print("no sent replies with a template_id yet: send them with POST /v1/feedback")
        return
    table = Table("template", "variant", "sent", "kept", "edited", "replaced", "rewritten", box=None)
    for r in rows:
        table.add_row(
            r.template_id, str(r.variant or "-"), str(r.sent), str(r.kept), str(r.edited), str(r.replaced),
            f"{r.rewritten:.0%}",
        )  # fmt: skip
    Console().print(table)
