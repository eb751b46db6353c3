"""The labeling workflow against a real Label Studio server started by the test session.

init -> import (with champion pre-annotations, ranked) -> annotations by several
annotators -> export (majority, conflicts, agreement) -> idempotent re-export;
two labelers with their own logins working the way the UI does (overlap served
first, nobody can overwrite anyone's annotation, export credits each one's
labels); queue hygiene (--top-k re-runs, handles, languages); and the failures
a user meets: bad files, server down, wrong token.
"""

from __future__ import annotations

import json
import os
import re
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
from labeling.export import parse_labels
from labeling.importers import load_champion
from labeling.sources import read_mentions
from model.base import model_input
from model.dataset import load_dataset
from model.dataset_versions import mlflow_params, sha256_file
from model.settings import PROJECT_ROOT, Settings
from model.taxonomy import HEADS
from tests import labeling_server
from tests.labeling_server import Labeler, LabelStudioServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]
label_studio = labeling_server.label_studio

FIXTURES = Path(__file__).parent / "fixtures" / "labeling"
MENTIONS = FIXTURES / "mentions.csv"
BRANDS = "VonkHelpt,RailLink,NordEnergi,BanqueAide,ShopSnel,SkyWings"
"""The fixture's brand accounts: kept with --keep-handle, every other handle is masked."""


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
    # Community settings for safe double labelling (see labeling/project.py)
    assert project.sampling == "Sequential sampling"
    assert project.show_overlap_first and not project.show_collab_predictions
    assert project.show_instruction and "<h" in (project.expert_instruction or "")
    views = [v.data.get("title") for v in ls.views.list(project=pid)]
    assert views.count("Most uncertain first") == 1


# ------------------------------------------------------------------------- import


def test_import_with_predictions_ranked_and_no_duplicates_on_reimport(
    label_studio: LabelStudioServer, registry: dict[str, str]
) -> None:
    env = label_studio.env(WEBCARE_LS_PROJECT="import predictions")
    assert cli(env, "init").exit_code == 0
    result = cli(env, "import", str(MENTIONS), "--keep-handle", BRANDS)
    assert result.exit_code == 0, result.output
    # 10 rows: m06 repeats m01 (case/spacing), m05 nearly repeats m02 (only the time differs)
    assert "1 duplicate(s) in the file" in result.output
    assert "1 near-duplicate(s)" in result.output
    assert "imported 8 task(s)" in result.output and "8 with a pre-annotation" in result.output
    assert "ranks 1-8" in result.output

    ls = label_studio.client()
    pid = project_id(ls, "import predictions")
    tasks = tasks_of(ls, pid)
    assert len(tasks) == 8
    version = f"webcare-triage:v{registry['TRAINED_VERSION']}:baseline"
    for task in tasks:
        # the guess is task data, never a prediction that would pre-select (and a hotkey clear)
        assert not task.predictions
        assert task.data["model_version"] == version
        guess = task.data["model_guess"].split(" · ")
        assert [g in h.labels for g, h in zip(guess, HEADS, strict=True)] == [True] * 4
        keys = [h.hotkeys[h.labels.index(g)] for g, h in zip(guess, HEADS, strict=True)]
        assert task.data["model_hint"].startswith(
            "Model's guess: " + " · ".join(f"{k} {g}" for k, g in zip(keys, guess, strict=True))
        )
        assert isinstance(task.data["uncertainty"], float) and isinstance(task.data["rank"], int)
    # rank 1 is the most uncertain mention, and the order follows the uncertainty
    by_rank = sorted(tasks, key=lambda t: t.data["rank"])
    uncertainties = [t.data["uncertainty"] for t in by_rank]
    assert uncertainties == sorted(uncertainties, reverse=True)
    assert [t.data["rank"] for t in by_rank] == list(range(1, 9))
    # task ids follow the rank: sequential sampling serves them in that order
    assert [t.id for t in by_rank] == sorted(t.id for t in tasks)
    context = next(t for t in tasks if t.data["text"].startswith("@SkyWings opgelost"))
    assert context.data["context"].startswith("@user we hebben")
    assert context.data["context_title"] == "In reply to"
    assert {t.data["context_title"] for t in tasks if not t.data["context"]} == {""}
    assert {t.data["lang"] for t in tasks} == {"nl", "en", "da", "fr"}

    again = cli(env, "import", str(MENTIONS), "--keep-handle", BRANDS)
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
    args = ["import", str(MENTIONS), "--top-k", "3", "--strategy", "entropy", "--keep-handle", BRANDS]
    result = cli(env, *args)
    assert result.exit_code == 0, result.output
    assert "the 3 most uncertain mentions of the file; 0 of them already" in result.output
    assert "imported 3 task(s)" in result.output and "ranks 1-3" in result.output

    # recompute the expectation by hand from the same champion
    predictor, _ = load_champion(Settings())
    assert predictor is not None
    mentions = read_mentions(MENTIONS, keep_handles=BRANDS.split(",")).mentions
    unique = [m for i, m in enumerate(mentions) if i != 5]  # m06 duplicates m01
    probas = predictor.predict_proba([model_input(m.text, m.context) for m in unique])
    expected = rank([m.text for m in unique], uncertainty(probas, "entropy"), top_k=6)
    ls = label_studio.client()
    pid = project_id(ls, "import top k")
    got = {t.data["text"] for t in tasks_of(ls, pid)}
    assert got == {unique[i].text for i in expected.order[:3]}

    # the same command again: the file's top 3 are in the project, so nothing is added
    again = cli(env, *args)
    assert again.exit_code == 0, again.output
    assert "3 of them already in the project" in again.output
    assert "imported 0 task(s)" in again.output and "--next imports the next 3" in again.output
    assert len(tasks_of(ls, pid)) == 3
    # only an explicit --next adds the next 3, ranked after the first ones
    more = cli(env, *args, "--next")
    assert more.exit_code == 0, more.output
    assert "the 3 most uncertain mentions not yet in the project" in more.output
    assert "imported 3 task(s)" in more.output and "ranks 4-6" in more.output
    tasks = tasks_of(ls, pid)
    assert {t.data["text"] for t in tasks} == {unique[i].text for i in expected.order}
    assert sorted(t.data["rank"] for t in tasks) == [1, 2, 3, 4, 5, 6]


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
    assert cli(env, "import", str(MENTIONS), "--no-model", "--keep-handle", BRANDS).exit_code == 0
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
    assert intent["cohen_kappa"] == [
        {"annotators": [a, ids["B"]], "n": 3, "kappa": 0.5714, "agreement": 0.6667}
    ]
    assert intent["krippendorff_alpha"] == pytest.approx(8 / 13, abs=1e-4)
    assert intent["multi_annotated_tasks"] == 3 and intent["raw_agreement"] == 0.6667
    for head in ("sentiment", "needs_reply", "urgency"):  # the annotators agree everywhere
        assert manifest["agreement"][head]["krippendorff_alpha"] == 1.0
        assert manifest["agreement"][head]["cohen_kappa"][0]["kappa"] == 1.0
        assert manifest["agreement"][head]["raw_agreement"] == 1.0
    assert "0.571" in result.output and "0.615" in result.output  # printed too
    assert "67%" in result.output and "100%" in result.output  # raw agreement beside them
    assert "3 doubly labelled" in result.output and manifest["counts"]["doubly_labelled_mentions"] == 3
    # each annotator's own labels, also where the majority overruled them or nobody won
    own = [json.loads(x) for x in (folder / "annotations.ndjson").read_text().splitlines()]
    assert len(own) == 8
    t2 = {r["annotator"]: r["intent"] for r in own if r["task_id"] == ids["T2"]}
    assert t2 == {a: "question", ids["B"]: "request"}

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


# -------------------------------------------------------- two labelers, one task


def add_labeler(label_studio: LabelStudioServer, email: str) -> Labeler:
    """`webcare label add-user`, then a browser-style login with the login it printed once."""
    result = cli(label_studio.env(), "add-user", email)
    assert result.exit_code == 0, result.output
    password = re.search(r"password:\s+(\S+)", result.output)
    assert password, result.output
    return Labeler(label_studio.url, email, password.group(1))


def overlap_project(label_studio: LabelStudioServer, tmp_path: Path, title: str) -> tuple[int, int]:
    """A project of 10 mentions, 3 of them (30%) for two labelers; (project id, tab id)."""
    source = tmp_path / f"{title}.csv"
    lines = ["text,lang"] + [f'"@user bestelling {n} is na {n + 2} dagen nog niet geleverd, waar blijft hij? '
                             f'{"ABCDEFGHIJ"[n] * 3}",nl' for n in range(10)]  # fmt: skip
    source.write_text("\n".join(lines) + "\n")
    env = label_studio.env(WEBCARE_LS_PROJECT=title)
    assert cli(env, "init", "--overlap-percent", "30").exit_code == 0
    imported = cli(env, "import", str(source), "--no-model", "--dup-threshold", "1.0")
    assert "imported 10 task(s)" in imported.output, imported.output
    ls = label_studio.client()
    pid = project_id(ls, title)
    (view,) = ls.views.list(project=pid)
    return pid, int(view.id)


def test_add_user_prints_a_working_login_once(label_studio: LabelStudioServer) -> None:
    dana = add_labeler(label_studio, "Dana.Labeler@example.com")
    assert dana.get("/api/current-user/whoami").json()["email"] == "dana.labeler@example.com"
    again = cli(label_studio.env(), "add-user", "dana.labeler@example.com")
    assert again.exit_code == 1 and "already exists" in again.stderr
    bad = cli(label_studio.env(), "add-user", "not-an-address")
    assert bad.exit_code == 2 and "not an e-mail address" in bad.stderr


def test_two_labelers_get_the_overlap_first_and_keep_their_own_labels(
    label_studio: LabelStudioServer, tmp_path: Path
) -> None:
    pid, view = overlap_project(label_studio, tmp_path, "two labelers")
    ls = label_studio.client()
    overlap = {int(t.id) for t in tasks_of(ls, pid) if t.overlap == 2}
    assert len(overlap) == 3
    alice = add_labeler(label_studio, "alice.two@example.com")
    bob = add_labeler(label_studio, "bob.two@example.com")
    agree = choices("complaint", "negative", "yes", "normal")

    # Alice labels through "Label All Tasks": the overlap tasks come first
    alice_done: dict[int, int] = {}
    for _ in range(3):
        task = alice.next_task(pid, view)
        assert task is not None and task["id"] in overlap, task
        alice_done[task["id"]] = alice.submit(task["id"], pid, agree)["id"]
    fourth = alice.next_task(pid, view)
    assert fourth is not None and fourth["id"] not in overlap
    assert fourth["data"]["rank"] == min(  # then the rest in rank order
        t.data["rank"] for t in tasks_of(ls, pid) if int(t.id) not in overlap
    )

    # Bob is served the tasks Alice already did before anything else
    bob_done: dict[int, int] = {}
    for _ in range(3):
        task = bob.next_task(pid, view)
        assert task is not None and task["id"] in alice_done, task
        assert "Breadth first" in task.get("queue", ""), task.get("queue")
        labels = agree if len(bob_done) < 2 else choices("question", "neutral", "yes", "normal")
        bob_done[task["id"]] = bob.submit(task["id"], pid, labels)["id"]
    assert set(bob_done) == set(alice_done)
    assert bob.next_task(pid, view)["id"] not in overlap | {fourth["id"]}

    # the overwrite path: Bob opens Alice's annotation from the Data Manager and saves it
    target, _, disagreed = list(bob_done)
    refused = bob.update(alice_done[target], pid, choices("praise", "positive", "no", "low"))
    assert refused.status_code == 403 and "another labeler" in refused.json()["detail"]
    assert bob.send("DELETE", f"/api/annotations/{alice_done[target]}").status_code == 403
    as_alice = bob.send("POST", f"/api/tasks/{target}/annotations",
                        {"result": agree, "completed_by": alice.id}, project=pid)  # fmt: skip
    assert as_alice.status_code == 403
    kept = ls.annotations.get(id=alice_done[target])
    assert kept.completed_by == alice.id and kept.updated_by in (None, alice.id)
    assert parse_labels(kept.result)["intent"] == "complaint"
    # each labeler can still fix their own, and the admin can still star one
    assert alice.update(alice_done[target], pid, agree).status_code == 200
    assert ls.annotations.update(id=bob_done[target], ground_truth=True).ground_truth

    root = tmp_path / "versions"
    result = cli(label_studio.env(WEBCARE_LS_PROJECT="two labelers", WEBCARE_DATASETS_DIR=str(root)),
                 "export")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "reattributed" not in result.output and "last saved by" not in result.stderr
    folder = root / "v0001"
    own = [json.loads(x) for x in (folder / "annotations.ndjson").read_text().splitlines()]
    by_task = {}
    for record in own:
        by_task.setdefault(record["task_id"], {})[record["annotator"]] = record["intent"]
    for task_id in alice_done:
        assert set(by_task[task_id]) == {alice.id, bob.id}  # both annotations, each credited
        assert by_task[task_id][alice.id] == "complaint"
    assert by_task[disagreed][bob.id] == "question"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert {a["id"]: a["labelled"] for a in manifest["annotators"]} == {alice.id: 3, bob.id: 3}
    intent = manifest["agreement"]["intent"]
    assert intent["multi_annotated_tasks"] == 3 and intent["raw_agreement"] == 0.6667
    assert intent["cohen_kappa"][0]["annotators"] == sorted([alice.id, bob.id])
    conflicts = [json.loads(x) for x in (folder / "conflicts.jsonl").read_text().splitlines()]
    assert [c["task_ids"] for c in conflicts] == [[disagreed]]
    assert conflicts[0]["heads"]["intent"]["by_annotator"] == {
        str(alice.id): "complaint", str(bob.id): "question",
    }  # fmt: skip
    # needs_reply: everyone said yes, so kappa and alpha are undefined: shown as "all agree"
    assert manifest["agreement"]["needs_reply"]["raw_agreement"] == 1.0
    assert manifest["agreement"]["needs_reply"]["krippendorff_alpha"] is None
    assert "all agree" in result.output and "n/a" not in result.output


def test_task_list_shows_the_labelers_columns(label_studio: LabelStudioServer) -> None:
    env = label_studio.env(WEBCARE_LS_PROJECT="task list view")
    first = cli(env, "init")
    assert "mention, context, language, model guess, uncertainty" in first.output
    assert cli(env, "import", str(MENTIONS), "--no-model").exit_code == 0
    ls = label_studio.client()
    pid = project_id(ls, "task list view")
    ls.views.create(project=pid, data={"title": "Admin tab"})
    assert cli(env, "init").exit_code == 0  # a re-run updates the tab and puts it first again
    views = list(ls.views.list(project=pid))
    assert [v.data["title"] for v in views] == ["Most uncertain first", "Admin tab"]
    data = views[0].data
    visible = {"tasks:data.text", "tasks:data.context", "tasks:data.lang", "tasks:data.model_guess",
               "tasks:data.uncertainty"}  # fmt: skip
    columns = ls._client_wrapper.httpx_client.request(
        "api/dm/columns", method="GET", params={"project": pid}
    ).json()["columns"]
    every = {f"tasks:{c['parent'] + '.' if c.get('parent') else ''}{c['id']}" for c in columns}
    hidden = set(data["hiddenColumns"]["explore"])
    assert every - visible <= hidden and not visible & hidden
    assert {"tasks:inner_id", "tasks:annotations_ids", "tasks:data.text_hash",
            "tasks:data.import_batch", "tasks:predictions_score", "tasks:data"} <= hidden  # fmt: skip
    assert data["hiddenColumns"]["labeling"] == data["hiddenColumns"]["explore"]
    assert data["columnsDisplayType"] == {"tasks:data.uncertainty": "Number", "tasks:data.rank": "Number"}
    assert data["ordering"] == ["tasks:data.rank"]
    # the server sorts rank as a number, so 10 comes after 9 (a string sort puts it after 1)
    listed = ls._client_wrapper.httpx_client.request(
        "api/tasks", method="GET", params={"project": pid, "view": views[0].id, "fields": "task_only"}
    ).json()["tasks"]
    ranks = [t["data"]["rank"] for t in listed]
    assert ranks == sorted(ranks)


def test_every_import_format_masks_user_handles(label_studio: LabelStudioServer) -> None:
    env = label_studio.env(WEBCARE_LS_PROJECT="masked handles")
    assert cli(env, "init").exit_code == 0
    for name in ("twcs_sample.csv", "orangebe_sample.csv", "mentions.csv"):
        result = cli(env, "import", str(FIXTURES / name), "--no-model", "--keep-handle", "SkyWings")
        assert result.exit_code == 0, result.output
    ls = label_studio.client()
    tasks = tasks_of(ls, project_id(ls, "masked handles"))
    assert {t.data["origin"] for t in tasks} == {"twcs", "orangebe", "csv"}
    words = " ".join(f"{t.data['text']} {t.data['context']}" for t in tasks).split()
    handles = {w.strip(".,:!?") for w in words if w.startswith("@")}
    assert handles == {"@user", "@ExampleCare", "@ExampleOperator", "@SkyWings"}
    twcs = next(t for t in tasks if t.data["text"].startswith("@ExampleCare done"))
    assert twcs.data["context"].startswith("@user Sorry")  # was @900001


def test_mentions_outside_the_product_languages_are_skipped_or_flagged(
    label_studio: LabelStudioServer, tmp_path: Path
) -> None:
    source = tmp_path / "mixed.csv"
    source.write_text(
        "text\n"
        '"@user Hola, mi pedido no ha llegado todavía, ¿me pueden ayudar por favor?"\n'
        '"@user buenas tardes, la aplicación no funciona desde ayer en mi teléfono"\n'
        '"@user Warum ist meine Bestellung immer noch nicht angekommen?"\n'
        '"@user mijn pakket is nog steeds niet bezorgd, wat is er aan de hand?"\n'
        '"@user my parcel still has not arrived, what is going on?"\n'
        '"@user mon colis n\'est toujours pas arrivé, que se passe-t-il ?"\n'
    )
    skip = label_studio.env(WEBCARE_LS_PROJECT="languages skip")
    assert cli(skip, "init").exit_code == 0
    result = cli(skip, "import", str(source), "--no-model")
    assert result.exit_code == 0, result.output
    assert "3 outside the product's languages (es 2, de 1)" in result.output
    assert "imported 3 task(s)" in result.output
    ls = label_studio.client()
    assert {t.data["lang"] for t in tasks_of(ls, project_id(ls, "languages skip"))} == {"nl", "en", "fr"}

    flag = label_studio.env(WEBCARE_LS_PROJECT="languages flag")
    assert cli(flag, "init").exit_code == 0
    result = cli(flag, "import", str(source), "--no-model", "--other-languages", "flag")
    assert result.exit_code == 0, result.output
    assert "flagged 3 outside the product's languages" in result.output
    tasks = sorted(tasks_of(ls, project_id(ls, "languages flag")), key=lambda t: t.data["rank"])
    assert [t.data["lang"] for t in tasks] == ["nl", "en", "fr", "es", "es", "de"]  # queued last
    assert [bool(t.data.get("other_language")) for t in tasks] == [False] * 3 + [True] * 3

    limited = label_studio.env(WEBCARE_LS_PROJECT="languages limit")
    assert cli(limited, "init").exit_code == 0
    result = cli(limited, "import", str(source), "--no-model", "--limit", "4")
    assert "using the first 4" in result.output and "imported 1 task(s)" in result.output


def test_label_studio_data_is_readable_by_its_owner_only(label_studio: LabelStudioServer) -> None:
    data = label_studio.data_dir
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert stat.S_IMODE((data / server.DATABASE).stat().st_mode) == 0o600
    for path in data.rglob("*"):
        if not path.is_symlink():
            want = 0o700 if path.is_dir() else 0o600
            assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, (path, oct(want))


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
    cr_only = tmp_path / "classic-mac.csv"
    cr_only.write_bytes(b"text,lang\r@VonkHelpt storing?,nl\rnog steeds,nl\r")
    binary = tmp_path / "export.xlsx"
    binary.write_bytes(b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00" + bytes(range(256)))
    cases = {
        str(FIXTURES / "no_text_column.csv"): "no_text_column.csv:1: no 'text' column",
        str(tmp_path / "missing.csv"): "missing.csv: no such file",
        str(tmp_path): "is a directory",
        str(bad_utf8): "latin1.csv:3: not valid UTF-8",
        str(bad_json): "broken.jsonl:2: invalid JSON",
        str(cr_only): "classic-mac.csv:1: lines end in a bare CR",
        str(binary): "export.xlsx: not a text file",
    }
    for path, message in cases.items():
        result = cli(env, "import", path)
        assert result.exit_code == 2, (path, result.output)
        assert message in result.stderr, result.stderr
        assert "Traceback" not in result.output
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr  # one line
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
