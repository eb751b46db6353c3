"""The `webcare` command: composes each stage's command group, nothing more."""

from __future__ import annotations

from collections.abc import Callable

import typer

import serving.cli
from labeling.cli import app as labeling_app
from serving.batch_cli import app as batch_app
from serving.cli import app as serving_app
from training.cli import app as training_app


def train_first_model(log: Callable[[str], None]) -> str:
    """`webcare serve` on an empty registry: the baseline trained on the bundled seed data."""
    from model.settings import get_settings
    from training.families import get_family
    from training.train import train

    settings = get_settings()
    result = train(get_family("baseline"), [settings.seed_dir], settings, log=log)
    return f"registered version {result.version} as {result.alias}"


serving.cli.first_model = train_first_model  # serving calls it; it does not import training

app = typer.Typer(no_args_is_help=True, help="Triage inbound webcare mentions.")
app.add_typer(training_app)
app.add_typer(serving_app)
app.add_typer(batch_app)
app.add_typer(labeling_app, name="label", help="Label Studio workflow for labelers.")

if __name__ == "__main__":
    app()
