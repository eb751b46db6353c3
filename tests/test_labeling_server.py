"""The labeling workflow against a real Label Studio server started by the test session.

init -> import (with champion predictions, ranked) -> annotations by several
annotators -> export (majority, conflicts, agreement) -> idempotent re-export,
plus the failures a user meets: bad files, server down, wrong token.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import mlflow
import pytest
from typer.testing import CliRunner, Result

from labeling import server
from labeling.active_learning import rank, uncertainty
from labeling.cli import app
from labeling.config import label_config
from labeling.importers import load_champion
from labeling.sources import read_mentions
from model.base import model_input
from model.dataset import load_dataset
from model.dataset_versions import mlflow_params, sha256_file
from model.settings import PROJECT_ROOT, Settings
from tests import labeling_server
from tests.labeling_server import LabelStudioServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]
label_studio = labeling_server.label_studio

FIXTURES = Path(__file__).parent / "fixtures" / "labeling"
MENTIONS = FIXTURES / "mentions.csv"


def cli(env: dict[str, str | None], *args: str) -> Result:
    return CliRunner().invoke(app, list(args), env=env)


def tasks_of(ls: Any, project_id: int) -> list[Any]:
    return list(ls.tasks.list(project=project_id, fields="all", page_size=500))


def project_id(ls: Any, title: str) -> int:
    (match,) = [p for p in ls.projects.list(page_size=500) if p.title == title]
    return int(match.id)


def user_id(ls: Any, email: str) -> int:
    for user in ls.users.list():
        if user.email == email:
            return int(user.id)
    return int(ls.users.create(email=email, username=email.split("@")[0]).id)


def choices(intent: str, sentiment: str, needs_reply: str, urgency: str, *tags: str) -> list[dict]:
    """A Label Studio result, as the labeling UI sends it for our config."""
    labels = {"intent": intent, "sentiment": sentiment, "needs_reply": needs_reply}
    labels["urgency"] = urgency
    result = [
        {"from_name": h, "to_name": "text", "type": "choices", "value": {"choices": [v]}}
        for h, v in labels.items()
    ]
    if tags:
        result.append(
            {"from_name": "tags", "to_name": "text", "type": "choices",
             "value": {"choices": list(tags)}}
        )  # fmt: skip
    return result


# --------------------------------------------------------------------------- init


def test_init_twice_updates_one_project(label_studio: LabelStudioServer) -> None:
    env = label_studio.env(WEBCARE_LS_PROJECT="init twice")
    first = cli(env, "init")
    assert first.exit_code == 0, first.output
    assert "created project 'init twice'" in first.output
    second = cli(env, "init", "--overlap", "3")
    assert second.exit_code == 0, second.output
    assert "updated project 'init twice'" in second.output
    assert "labeling config unchanged" in second.output
    ls = label_studio.client()
    pid = project_id(ls, "init twice")  # exactly one project with this title
    project = ls.projects.get(id=pid)
    assert project.label_config.strip() == label_config().strip()
    assert project.maximum_annotations == 3
    assert project.sampling == "Uncertainty sampling"
    assert project.show_instruction and "<h" in (project.expert_instruction or "")
    views = [v.data.get("title") for v in ls.views.list(project=pid)]
    assert views.count("Most uncertain first") == 1


# ------------------------------------------------------------------------- import


def test_import_with_predictions_ranked_and_no_duplicates_on_reimport(
    label_studio: LabelStudioServer, registry: dict[str, str]
) -> None:
    env = label_studio.env(WEBCARE_LS_PROJECT="import predictions")
    assert cli(env, "init").exit_code == 0
    result = cli(env, "import", str(MENTIONS))
    assert result.exit_code == 0, result.output
    # 10 rows: m06 repeats m01 (case/spacing), m05 nearly repeats m02 (only the time differs)
    assert "1 duplicate(s) in the file" in result.output
    assert "1 near-duplicate(s)" in result.output
    assert "imported 8 task(s)" in result.output and "8 with predictions" in result.output

    ls = label_studio.client()
    pid = project_id(ls, "import predictions")
    tasks = tasks_of(ls, pid)
    assert len(tasks) == 8
    version = f"webcare-triage:v{registry['TRAINED_VERSION']}:baseline"
    assert ls.projects.get(id=pid).model_version == version
    for task in tasks:
        (pred,) = task.predictions
        assert pred.model_version == version
        assert pred.score == pytest.approx(1 - task.data["uncertainty"], abs=1e-3)
        assert {r["from_name"] for r in pred.result} == {
            "intent", "sentiment", "needs_reply", "urgency",
        }  # fmt: skip
    # rank 1 is the most uncertain mention, and the order follows the uncertainty
    by_rank = sorted(tasks, key=lambda t: t.data["rank"])
    uncertainties = [t.data["uncertainty"] for t in by_rank]
    assert uncertainties == sorted(uncertainties, reverse=True)
    assert [t.data["rank"] for t in by_rank] == list(range(1, 9))
    context = next(t for t in tasks if t.data["text"].startswith("@SkyWings opgelost"))
    assert context.data["context"].startswith("@user we hebben")
    assert {t.data["lang"] for t in tasks} == {"nl", "en", "da", "fr"}

    again = cli(env, "import", str(MENTIONS))
    assert again.exit_code == 0, again.output
    # m06 has m01's text key, so it is "already in the project" too; m05 nearly repeats m02
    assert "9 already in the project, 1 near-duplicate(s)" in again.output
    assert "imported 0 task(s)" in again.output
    assert len(tasks_of(ls, pid)) == 8


def test_import_top_k_takes_the_most_uncertain(
    label_studio: LabelStudioServer, registry: dict[str, str]
) -> None:
    env = label_studio.env(WEBCARE_LS_PROJECT="import top k")
    assert cli(env, "init").exit_code == 0
    result = cli(env, "import", str(MENTIONS), "--top-k", "3", "--strategy", "entropy")
    assert result.exit_code == 0, result.output
    assert "imported 3 task(s)" in result.output

    # recompute the expectation by hand from the same champion
    predictor, _ = load_champion(Settings())
    assert predictor is not None
    mentions = read_mentions(MENTIONS).mentions
    unique = [m for i, m in enumerate(mentions) if i != 5]  # m06 duplicates m01
    probas = predictor.predict_proba([model_input(m.text, m.context) for m in unique])
    expected = rank([m.text for m in unique], uncertainty(probas, "entropy"), top_k=3)
    ls = label_studio.client()
    got = {t.data["text"] for t in tasks_of(ls, project_id(ls, "import top k"))}
    assert got == {unique[i].text for i in expected.order}


def test_import_without_champion_says_so(label_studio: LabelStudioServer, tmp_path: Path) -> None:
    env = label_studio.env(
        WEBCARE_LS_PROJECT="import no model",
        MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'empty.db'}",
        WEBCARE_VAR_DIR=str(tmp_path / "var"),
    )
    assert cli(env, "init").exit_code == 0
    previous = (mlflow.get_tracking_uri(), mlflow.get_registry_uri())
    try:
        result = cli(env, "import", str(FIXTURES / "mentions.jsonl"))
    finally:  # the CLI points MLflow (process-global) at the empty store: undo for other tests
        mlflow.set_tracking_uri(previous[0])
        mlflow.set_registry_uri(previous[1])
    assert result.exit_code == 0, result.output
    assert "no champion model" in result.output and "without predictions" in result.output
    ls = label_studio.client()
    tasks = tasks_of(ls, project_id(ls, "import no model"))
    assert len(tasks) == 3 and all(not t.predictions for t in tasks)
    assert all("uncertainty" not in t.data for t in tasks)
    danish = next(t for t in tasks if t.data["text"].startswith("Hvornår"))
    assert danish.data["lang"] == "da"  # detected: the file gave none


# ---------------------------------------------------------------- annotate + export


def _annotate(ls: Any, pid: int) -> dict[str, int]:
    """Two annotators (A = the admin token's user, B), a tie on T2, B cancels T4.

    T1 A,B agree | T2 A question / B request | T3 A,B agree | T4 A only, B cancelled
    T5 A only | the other tasks: no annotation.
    """
    b = user_id(ls, "annotator.b@example.com")
    tasks = tasks_of(ls, pid)

    def task(prefix: str) -> int:
        (match,) = [x.id for x in tasks if x.data["text"].startswith(prefix)]
        return int(match)

    t = {
        "T1": task("@VonkHelpt internet"),
        "T2": task("@RailLink does the 8:15"),
        "T3": task("@NordEnergi"),
        "T4": task("Win a free phone"),
        "T5": task("@ShopSnel"),
    }
    a_labels = {
        "T1": choices("complaint", "negative", "yes", "high", "outage_question"),
        "T2": choices("question", "neutral", "yes", "normal"),
        "T3": choices("praise", "positive", "no", "low"),
        "T4": choices("other", "neutral", "no", "low"),
        "T5": choices("feedback", "neutral", "no", "low"),
    }
    for key, result in a_labels.items():
        ls.annotations.create(id=t[key], result=result, lead_time=3.0)
    ls.annotations.create(id=t["T1"], result=a_labels["T1"], completed_by=b)
    ls.annotations.create(
        id=t["T2"], result=choices("request", "neutral", "yes", "normal"), completed_by=b
    )
    ls.annotations.create(id=t["T3"], result=a_labels["T3"], completed_by=b)
    ls.annotations.create(id=t["T4"], result=[], was_cancelled=True, completed_by=b)
    return {**t, "B": b}


def _versions(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def test_export_majority_conflicts_agreement_and_idempotence(
    label_studio: LabelStudioServer, tmp_path: Path
) -> None:
    root = tmp_path / "versions"
    env = label_studio.env(WEBCARE_LS_PROJECT="export flow", WEBCARE_DATASETS_DIR=str(root))
    assert cli(env, "init").exit_code == 0
    assert cli(env, "import", str(MENTIONS), "--no-model").exit_code == 0
    ls = label_studio.client()
    pid = project_id(ls, "export flow")
    ids = _annotate(ls, pid)
    a = int(ls.users.whoami().id)

    result = cli(env, "export")
    assert result.exit_code == 0, result.output
    assert _versions(root) == ["v0001"]
    folder = root / "v0001"
    rows = {r.id: r for r in load_dataset([folder])}  # the loader training uses
    assert len(rows) == 4  # T1, T3, T4, T5; T2 is a conflict
    by_text = {r.text[:12]: r for r in rows.values()}
    t1 = by_text["@VonkHelpt i"]
    assert t1.labels == {
        "intent": "complaint", "sentiment": "negative", "needs_reply": "yes", "urgency": "high",
    }  # fmt: skip
    assert t1.lang == "nl" and t1.domain == "telecom" and t1.source == "labelstudio"
    assert t1.tags == ["outage_question"]
    assert t1.id.startswith("ls-") and len(t1.id) == 19
    assert by_text["Win a free p"].labels["intent"] == "other"  # B's cancel ignored
    raw = [json.loads(line) for line in (folder / "dataset.jsonl").read_text().splitlines()]
    assert all(r["source"] == "labelstudio" for r in raw)

    conflicts = [json.loads(x) for x in (folder / "conflicts.jsonl").read_text().splitlines()]
    assert len(conflicts) == 1
    (conflict,) = conflicts
    assert conflict["task_ids"] == [ids["T2"]]
    assert conflict["heads"] == {
        "intent": {
            "reason": "tie",
            "votes": {"question": 1, "request": 1},
            "by_annotator": {str(a): "question", str(ids["B"]): "request"},
        }
    }

    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["sha256"] == sha256_file(folder / "dataset.jsonl")
    assert manifest["source"]["project_id"] == pid
    counts = manifest["counts"]
    assert counts["tasks"] == 8 and counts["rows"] == 4 and counts["conflicts"] == 1
    assert counts["annotations"] == 8 and counts["cancelled_annotations"] == 1
    assert counts["per_label"]["intent"] == {
        "complaint": 1, "request": 0, "question": 0, "feedback": 1, "praise": 1, "other": 1,
    }  # fmt: skip
    assert counts["per_lang"] == {"da": 1, "en": 1, "nl": 2}
    assert counts["per_origin"] == {"csv": 4}
    assert manifest["annotators"] == [
        {"id": a, "labelled": 5, "cancelled": 0},
        {"id": ids["B"], "labelled": 3, "cancelled": 1},
    ]
    # Hand computation, intent, tasks both labelled (T1, T2, T3):
    #   A = complaint, question, praise; B = complaint, request, praise
    #   Cohen: p_o = 2/3; p_e = 1/3*1/3 (complaint) + 1/3*1/3 (praise) = 2/9
    #          kappa = (2/3 - 2/9) / (1 - 2/9) = 4/7
    #   Krippendorff (nominal): n = 6 values; D_o = 2/6 (T2's two ordered pairs)
    #          D_e = (6^2 - (2^2 + 1 + 1 + 2^2)) / (6 * 5) = 26/30
    #          alpha = 1 - (1/3) / (26/30) = 8/13
    intent = manifest["agreement"]["intent"]
    assert intent["cohen_kappa"] == [{"annotators": [a, ids["B"]], "n": 3, "kappa": 0.5714}]
    assert intent["krippendorff_alpha"] == pytest.approx(8 / 13, abs=1e-4)
    assert intent["multi_annotated_tasks"] == 3
    for head in ("sentiment", "needs_reply", "urgency"):  # the annotators agree everywhere
        assert manifest["agreement"][head]["krippendorff_alpha"] == 1.0
        assert manifest["agreement"][head]["cohen_kappa"][0]["kappa"] == 1.0
    assert "0.571" in result.output and "0.615" in result.output  # printed too

    # no new annotations: no new version, files untouched
    before = (folder / "manifest.json").read_bytes()
    again = cli(env, "export")
    assert again.exit_code == 0, again.output
    assert "no changes since v0001" in again.output
    assert _versions(root) == ["v0001"]
    assert (folder / "manifest.json").read_bytes() == before

    # a third annotator breaks the tie: a new full snapshot, T2 resolved by majority
    c = user_id(ls, "annotator.c@example.com")
    ls.annotations.create(
        id=ids["T2"], result=choices("question", "neutral", "yes", "normal"), completed_by=c
    )
    third = cli(env, "export")
    assert third.exit_code == 0, third.output
    assert _versions(root) == ["v0001", "v0002"]
    rows2 = {r.text[:12]: r for r in load_dataset([root / "v0002"])}
    assert len(rows2) == 5 and rows2["@RailLink do"].labels["intent"] == "question"
    assert (root / "v0002" / "conflicts.jsonl").read_text() == ""
    manifest2 = json.loads((root / "v0002" / "manifest.json").read_text())
    assert manifest2["previous"] == "v0001"
    # what a training run on seed + latest version logs about the data
    params = mlflow_params([Settings().seed_dir, root / "v0002"])
    assert params == {"data.versions": "v0002", "data.v0002.sha256": manifest2["sha256"]}


# ------------------------------------------------------------------- bad input


def test_bad_files_fail_cleanly_and_import_nothing(
    label_studio: LabelStudioServer, tmp_path: Path
) -> None:
    env = label_studio.env(WEBCARE_LS_PROJECT="bad input")
    assert cli(env, "init").exit_code == 0
    bad_utf8 = tmp_path / "latin1.csv"
    bad_utf8.write_bytes(b'text\n"ok"\n"caf\xe9"\n')
    bad_json = tmp_path / "broken.jsonl"
    bad_json.write_text('{"text": "fine"}\n{"text": \n')
    cases = {
        str(FIXTURES / "no_text_column.csv"): "no_text_column.csv:1: no 'text' column",
        str(tmp_path / "missing.csv"): "missing.csv: no such file",
        str(tmp_path): "is a directory",
        str(bad_utf8): "latin1.csv:3: not valid UTF-8",
        str(bad_json): "broken.jsonl:2: invalid JSON",
    }
    for path, message in cases.items():
        result = cli(env, "import", path)
        assert result.exit_code == 2, (path, result.output)
        assert message in result.stderr, result.stderr
        assert "Traceback" not in result.output
    ls = label_studio.client()
    assert tasks_of(ls, project_id(ls, "bad input")) == []


def test_server_down_or_wrong_token_fails_and_writes_nothing(
    label_studio: LabelStudioServer, tmp_path: Path
) -> None:
    root = tmp_path / "versions"
    down = {
        "LABEL_STUDIO_URL": f"http://127.0.0.1:{server.free_port()}",
        "LABEL_STUDIO_API_KEY": "whatever-token",
        "WEBCARE_DATASETS_DIR": str(root),
    }
    wrong = label_studio.env(LABEL_STUDIO_API_KEY="not-the-token", WEBCARE_DATASETS_DIR=str(root))
    for env, message in ((down, "cannot reach Label Studio"), (wrong, "rejected the API key")):
        for args in (["init"], ["import", str(MENTIONS)], ["export"]):
            result = cli(env, *args)
            assert result.exit_code == 1, (args, result.output)
            assert message in result.stderr and "Traceback" not in result.output
    assert not root.exists()
    # the real entry point behaves the same (exit code, one error line)
    proc = subprocess.run(
        [sys.executable, "-m", "webcare_cli", "label", "export"],
        env={**os.environ, **down},
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=120,
    )
    assert proc.returncode == 1 and "cannot reach Label Studio" in proc.stderr
    assert not root.exists()


def test_personal_access_token_works(label_studio: LabelStudioServer) -> None:
    """LABEL_STUDIO_API_KEY may be a PAT (JWT refresh token) instead of a legacy token."""
    headers = {"Authorization": f"Token {label_studio.token}"}
    response = httpx.post(f"{label_studio.url}/api/token/", headers=headers, timeout=30)
    if response.status_code == 409:  # one PAT per user: rotate to get a fresh one
        response = httpx.post(f"{label_studio.url}/api/token/rotate/", headers=headers, timeout=30)
    assert response.status_code in (200, 201), response.text
    pat = response.json()["token"]
    result = cli(label_studio.env(LABEL_STUDIO_API_KEY=pat, WEBCARE_LS_PROJECT="pat"), "init")
    assert result.exit_code == 0, result.output


# ----------------------------------------------------------------- server commands


def test_server_commands_on_a_copied_data_dir(
    label_studio: LabelStudioServer, tmp_path: Path
) -> None:
    var = tmp_path / "var"
    server.copy_data_dir(labeling_server.template_dir(), var / "label-studio")
    port = server.free_port()
    env = {"WEBCARE_VAR_DIR": str(var), "WEBCARE_LS_PORT": str(port)}
    env_unset: dict[str, str | None] = {"LABEL_STUDIO_URL": None, "LABEL_STUDIO_API_KEY": None}
    try:
        started = cli({**env, **env_unset}, "server", "start")
        assert started.exit_code == 0, started.output
        assert f"running at http://127.0.0.1:{port}" in started.output
        creds = var / "label-studio" / "credentials.json"
        assert stat.S_IMODE(creds.stat().st_mode) == 0o600
        token = json.loads(creds.read_text())["token"]
        assert token not in started.output  # printed on the first start only
        again = cli({**env, **env_unset}, "server", "start")
        assert "already running" in again.output
        status = cli({**env, **env_unset}, "server", "status")
        assert status.exit_code == 0 and "OK" in status.output
        # the label commands find the local server and its stored token by themselves
        init = cli({**env, **env_unset, "WEBCARE_LS_PROJECT": "local"}, "init")
        assert init.exit_code == 0, init.output
        # busy port: refused instead of Label Studio silently moving to port+1
        other = cli(
            {"WEBCARE_VAR_DIR": str(tmp_path / "other"), "WEBCARE_LS_PORT": str(port)},
            "server", "start",
        )  # fmt: skip
        assert other.exit_code == 1 and f"port {port}" in other.stderr
        assert not (tmp_path / "other").exists()
    finally:
        stopped = cli(env, "server", "stop")
    assert stopped.exit_code == 0 and "stopped Label Studio" in stopped.output
    assert server.running(var / "label-studio") is None
    assert not server.healthy(f"http://127.0.0.1:{port}")
    status = cli({**env, **env_unset}, "server", "status")
    assert status.exit_code == 1 and "no Label Studio server" in status.stderr
