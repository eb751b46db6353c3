"""`webcare serve | score`."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console

from model.settings import CHAMPION, configure_mlflow, get_settings

app = typer.Typer()
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
    from mlflow.exceptions import MlflowException
    from pydantic import ValidationError

    from model.loading import load_alias
    from model.priority import Policy
    from serving.language import LanguageIdentifier
    from serving.schemas import Mention
    from serving.scoring import score_mentions
    from serving.settings import get_serve_settings

    settings = get_settings()
    configure_mlflow(settings)
    try:
        mention = Mention(
            id="cli", text=text, lang=lang, context=context, author={"followers": followers},
            created_at=datetime.now().astimezone(),
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        err.print(f"[red]error:[/] {'.'.join(map(str, first['loc']))}: {first['msg']}")
        raise typer.Exit(2) from None
    try:
        model = load_alias(settings.registered_model, alias)
    except MlflowException:
        err.print(f"[red]error:[/] no model with alias {alias!r}; run `webcare train` first")
        raise typer.Exit(2) from None
    policy = Policy.load(get_serve_settings().policy)
    result = score_mentions([mention], model, policy, LanguageIdentifier())
    typer.echo(json.dumps(result.model_dump(mode="json"), indent=2, ensure_ascii=False))
