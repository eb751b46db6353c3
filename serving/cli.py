"""`webcare serve | score | reply | reply-summary` (and the `webcare report` group from serving.report)."""

from __future__ import annotations

import json
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


def champion_exists() -> bool:
    from mlflow.exceptions import MlflowException

    from model.loading import resolve_alias

    configure_mlflow(get_settings())
    try:
        resolve_alias(get_settings().registered_model, CHAMPION)
    except MlflowException:
        return False
    return True


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

    if not champion_exists():
        if not train_if_missing:
            err.print("[red]error:[/] no champion model registered; run `webcare train` first")
            raise typer.Exit(2)
        from training.families import get_family
        from training.train import train

        settings = get_settings()
        err.print("no champion registered: training the baseline on the bundled seed data")
        result = train(get_family("baseline"), [settings.seed_dir], settings, log=err.print)
        err.print(f"registered version {result.version} as {result.alias}")
    os.environ["WEBCARE_HOST"] = host
    err.print(f"serving on http://{host}:{port}  (docs: http://{host}:{port}/docs)")
    uvicorn.run(
        "serving.app:app", host=host, port=port, workers=workers, log_level="warning",
        access_log=False,
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
        err.print(f"[red]error:[/] {'.'.join(map(str, first['loc']))}: {first['msg']}")
        raise typer.Exit(2) from None
    serve = get_serve_settings()
    try:
        templates = ReplyTemplates.load(serve.reply_templates)
    except TemplatesError as exc:
        err.print("[red]error:[/]", escape(str(exc)), highlight=False)
        raise typer.Exit(2) from None
    try:
        model = load_alias(settings.registered_model, alias)
    except MlflowException:
        err.print(f"[red]error:[/] no model with alias {alias!r}; run `webcare train` first")
        raise typer.Exit(2) from None
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
        err.print(f"[dim]- {why}[/]", highlight=False, soft_wrap=True)


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
