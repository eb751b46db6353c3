"""Agents' corrections flow from the API's feedback store into Label Studio review tasks."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from labeling.cli import app
from model.feedback import FeedbackStore
from tests import labeling_server
from tests.labeling_server import LabelStudioServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]
label_studio = labeling_server.label_studio


def test_import_feedback_prefills_agent_labels_once(
    label_studio: LabelStudioServer, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'feedback.db'}"
    store = FeedbackStore(url)
    store.add({"mention_id": "m1", "text": "Storing in Gent, bel 0470 12 34 56", "lang": "nl",
               "intent": "complaint", "sentiment": "negative", "needs_reply": True,
               "urgency": "high"})  # fmt: skip
    store.add({"mention_id": "m2", "text": "Merci pour l'aide rapide !", "lang": "fr",
               "intent": "praise", "needs_reply": False})  # fmt: skip
    env = label_studio.env(WEBCARE_LS_PROJECT="feedback review", WEBCARE_FEEDBACK_URL=url)
    runner = CliRunner()
    assert runner.invoke(app, ["init"], env=env).exit_code == 0
    first = runner.invoke(app, ["import-feedback"], env=env)
    assert first.exit_code == 0, first.output
    assert "sent 2 of 2 correction(s)" in first.output

    ls = label_studio.client()
    (project,) = [p for p in ls.projects.list(page_size=500) if p.title == "feedback review"]
    tasks = {t.data["text"]: t for t in ls.tasks.list(project=project.id, fields="all")}
    assert set(tasks) == {"Storing in Gent, bel [PHONE]", "Merci pour l'aide rapide !"}
    task = tasks["Storing in Gent, bel [PHONE]"]
    assert not task.predictions and task.data["model_version"] == "agent-feedback"
    assert task.data["model_guess"] == "complaint · negative · yes · high"
    assert task.data["model_hint"].startswith("Agent's correction: 1 complaint · q negative · y yes · h high")
    assert tasks["Merci pour l'aide rapide !"].data["model_guess"] == "praise · no"

    again = runner.invoke(app, ["import-feedback"], env=env)
    assert again.exit_code == 0 and "no new feedback" in again.output
    assert len(list(ls.tasks.list(project=project.id))) == 2


def test_import_feedback_server_down_keeps_feedback_pending(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'feedback.db'}"
    FeedbackStore(url).add({"mention_id": "m1", "text": "hoi", "intent": "other"})
    env = {"LABEL_STUDIO_URL": "http://127.0.0.1:9", "LABEL_STUDIO_API_KEY": "x" * 40,
           "WEBCARE_FEEDBACK_URL": url}  # fmt: skip
    res = CliRunner().invoke(app, ["import-feedback"], env=env)
    assert res.exit_code == 1 and "error" in res.output
    assert len(FeedbackStore(url).pending()) == 1
