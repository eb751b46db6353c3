"""The `webcare` command: composes each stage's command group, nothing more."""

from __future__ import annotations

import typer

from labeling.cli import app as labeling_app
from serving.cli import app as serving_app
from training.cli import app as training_app

app = typer.Typer(no_args_is_help=True, help="Triage inbound webcare mentions.")
app.add_typer(training_app)
app.add_typer(serving_app)
app.add_typer(labeling_app, name="label", help="Label Studio workflow for labelers.")

if __name__ == "__main__":
    app()
