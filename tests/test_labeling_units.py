"""Labeling logic that needs no server: config, readers, ranking, agreement, versions."""

from __future__ import annotations

import os
import stat
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from labeling import server
from labeling.active_learning import rank, uncertainty
from labeling.agreement import cohen_pairs, describe, head_agreement, krippendorff_alpha, raw_agreement
from labeling.cli import app
from labeling.config import (
    fallback_guidelines,
    guess_line,
    guidelines_markdown,
    hint_line,
    label_config,
    markdown_to_html,
)
from labeling.export import (
    Annotation,
    author,
    build_snapshot,
    public_url,
    resolve,
    resolve_tags,
    write_version,
)
from labeling.importers import choices_result
from labeling.language import outside_languages
from labeling.normalize import mask_handles, text_hash
from labeling.sources import SourceError, read_mentions, sniff
from model.dataset import KNOWN_TAGS, load_dataset
from model.dataset_versions import mlflow_params, next_version_name, version_dirs
from model.taxonomy import HEAD_NAMES, HEADS
from tests.conftest import SHARED, needs_shared

FIXTURES = Path(__file__).parent / "fixtures" / "labeling"
INTENTS = HEADS[0].labels


# ------------------------------------------------------------------------ config


def test_label_config_follows_the_taxonomy() -> None:
    root = ET.fromstring(label_config())
    *groups, tags = root.findall(".//Choices")
    assert [g.get("name") for g in groups] == list(HEAD_NAMES)
    for group, head in zip(groups, HEADS, strict=True):
        assert group.get("toName") == "text" and group.get("required") == "true"
        assert group.get("choice") == "single-radio"
        assert tuple(c.get("value") for c in group) == head.labels
        assert tuple(c.get("hotkey") for c in group) == head.hotkeys
    # optional hard-case tags: several allowed, no hotkeys to collide with the heads'
    assert tags.get("name") == "tags" and tags.get("choice") == "multiple"
    assert tags.get("required") is None and all(c.get("hotkey") is None for c in tags)
    assert [c.get("value") for c in tags] == sorted(KNOWN_TAGS)
    texts = {t.get("name"): t.get("value") for t in root.iter("Text")}
    assert texts == {"text": "$text", "context": "$context"}
    hotkeys = [c.get("hotkey") for c in root.iter("Choice") if c.get("hotkey")]
    assert len(hotkeys) == len(set(hotkeys)) == sum(len(h.hotkeys) for h in HEADS)
    # the context box: titled from the task (empty without context) and hidden when empty
    headers = [h.get("value") for h in root.iter("Header")]
    assert "$context_title" in headers and "$model_hint" in headers
    assert ":empty" in root.find("Style").text
    assert root.find("View").get("className") == "webcare-context"


def test_model_guess_is_text_with_the_keys_that_accept_it() -> None:
    labels = {"intent": "praise", "sentiment": "positive", "needs_reply": "no", "urgency": "low"}
    assert guess_line(labels) == "praise · positive · no · low"
    assert hint_line(labels).startswith("Model's guess: 5 praise · e positive · n no · k low (")
    assert hint_line({"intent": "question"}, "Agent's correction").startswith(
        "Agent's correction: 3 question ("
    )
    assert hint_line({}) == "" and guess_line({"intent": "bogus"}) == ""


def test_guidelines_file_or_taxonomy_fallback(tmp_path: Path) -> None:
    text, source = guidelines_markdown(tmp_path / "absent.md")
    assert source is None and text == fallback_guidelines()
    assert all(h.name in text for h in HEADS)
    own = tmp_path / "g.md"
    own.write_text("# Rules\n\n<script>alert(1)</script>\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")
    text, source = guidelines_markdown(own)
    html = markdown_to_html(text)
    assert source == own and "<h1>Rules</h1>" in html and "<table>" in html
    assert "<script>" not in html  # raw HTML in the Markdown is escaped


def test_choices_result_is_label_studio_shape() -> None:
    result = choices_result({"intent": "praise", "urgency": "low", "sentiment": "bogus"})
    assert result == [
        {"from_name": "intent", "to_name": "text", "type": "choices",
         "value": {"choices": ["praise"]}},
        {"from_name": "urgency", "to_name": "text", "type": "choices",
         "value": {"choices": ["low"]}},
    ]  # fmt: skip


# --------------------------------------------------------------------- normalise


def test_text_hash_ignores_case_spacing_and_unicode_form() -> None:
    a = "@VonkHelpt  Internet ligt ER uit\n"
    assert text_hash(a) == text_hash("@vonkhelpt internet ligt er uit")
    assert text_hash("café") == text_hash("cafe\u0301")
    assert text_hash(a) != text_hash("@VonkHelpt internet ligt er weer uit")


def test_mask_handles_keeps_only_brands() -> None:
    text = "@SouthwestAir thanks @JaneDoe and @Delta, mail me at jane@example.com"
    assert mask_handles(text, ["southwestair", "delta"]) == (
        "@SouthwestAir thanks @user and @Delta, mail me at jane@example.com"
    )
    assert mask_handles("@116239 @AppleSupport hi", ["AppleSupport"]) == "@user @AppleSupport hi"


def _handles(mentions: list) -> set[str]:
    words = " ".join(f"{m.text} {m.context or ''}" for m in mentions).split()
    return {w.strip(".,:!?") for w in words if w.startswith("@")}


def test_every_format_masks_every_user_handle(tmp_path: Path) -> None:
    twcs = read_mentions(FIXTURES / "twcs_sample.csv").mentions
    assert _handles(twcs) == {"@ExampleCare", "@user"}  # numeric TWCS customers masked
    orange = read_mentions(FIXTURES / "orangebe_sample.csv").mentions
    assert _handles(orange) == {"@ExampleOperator", "@user"}
    plain = read_mentions(FIXTURES / "mentions.csv").mentions  # no brand named: all masked
    assert _handles(plain) == {"@user"}
    kept = read_mentions(FIXTURES / "mentions.csv", keep_handles=["@SkyWings", "vonkhelpt"]).mentions
    assert _handles(kept) == {"@user", "@SkyWings", "@VonkHelpt", "@vonkhelpt"}
    jsonl = tmp_path / "m.jsonl"
    jsonl.write_text('{"text": "@JaneDoe and @116239 say hi", "context": "@BobRoe hello"}\n')
    assert _handles(read_mentions(jsonl).mentions) == {"@user"}


# ----------------------------------------------------------------------- sources


def test_plain_csv_and_jsonl() -> None:
    csv_read = read_mentions(FIXTURES / "mentions.csv")
    assert csv_read.format == "csv" and len(csv_read.mentions) == 10
    m09 = csv_read.mentions[8]
    assert m09.context and m09.lang == "nl" and m09.domain == "airline"
    assert m09.source_id == "m09" and m09.origin == "csv"
    jsonl = read_mentions(FIXTURES / "mentions.jsonl").mentions
    assert jsonl[0].labels == {"intent": "complaint"}  # usable as pre-fill
    assert jsonl[2].lang is None


def test_public_formats_from_invented_samples() -> None:
    twcs = read_mentions(FIXTURES / "twcs_sample.csv")
    assert twcs.format == "twcs" and twcs.skipped_empty == 1
    assert [m.source_id for m in twcs.mentions] == ["twcs:2", "twcs:3", "twcs:4"]
    assert twcs.mentions[0].context.startswith("@user Sorry")  # the brand tweet it answers
    assert twcs.mentions[1].context is None

    orange = read_mentions(FIXTURES / "orangebe_sample.csv")
    assert orange.format == "orangebe"
    assert [m.source_id for m in orange.mentions] == [
        "orangebe:101",
        "orangebe:103",
        "orangebe:104",
    ]
    everything = " ".join(f"{m.text} {m.context}" for m in orange.mentions)
    assert "JaneDoeExample" not in everything and "JohnRoeExample" not in everything
    assert "@ExampleOperator" in everything  # the brand account stays
    assert orange.mentions[1].context.startswith("@user Vervelend")  # the preceding turn
    assert orange.mentions[2].lang is None  # "und" -> detected at import

    airline = read_mentions(FIXTURES / "airline_sample.csv")
    assert airline.format == "airline" and len(airline.mentions) == 2  # duplicate id dropped
    assert airline.mentions[0].text == "@SouthwestAir flight delayed again and @user is stuck too"
    assert airline.mentions[1].text == "@Delta thanks for the upgrade & the lounge!"  # unescaped
    assert {m.lang for m in airline.mentions} == {"en"}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"body,lang\nhi,en\n", ":1: no 'text' column for the mention text (columns found: body"),
        (b"", ":1: empty file"),
        (b"text\nok\n\xff\xfe\n", ":3: not valid UTF-8"),
    ],
)
def test_bad_csv_names_file_and_line(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes(content)
    with pytest.raises(SourceError) as info:
        read_mentions(path)
    assert str(info.value).startswith(str(path)) and message in str(info.value)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"text,lang\rhello,en\rhoi,nl\r", ":1: lines end in a bare CR"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", ": not a text file"),
        ("text\nhallo\n".encode("utf-16"), ": not a text file"),
        (b'"text\nhello', ":1: no 'text' column"),  # an unclosed quote swallows the file
    ],
)
def test_unreadable_files_are_one_line_errors(tmp_path: Path, content: bytes, message: str) -> None:
    for name in ("in.csv", "in.jsonl", "in.txt"):
        path = tmp_path / name
        path.write_bytes(content)
        if name == "in.jsonl" and "column" in message:
            continue
        with pytest.raises(SourceError) as info:
            read_mentions(path)
        assert str(info.value).startswith(str(path)) and message in str(info.value)
        assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ('{"text": "a"}\n\n{"text": 3}\n', ":3: no 'text' string field"),
        ('{"text": "a"}\n[1]\n', ":2: expected a JSON object"),
        ('{"text": "a", "intent": "rant"}\n', ":1: invalid intent 'rant'"),
        ('{"text": "a"\n', ":1: invalid JSON"),
        ("[" * 100_000 + "\n", ":1: invalid JSON: nested too deeply"),
    ],
)
def test_bad_jsonl_names_file_and_line(tmp_path: Path, lines: str, message: str) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text(lines)
    with pytest.raises(SourceError, match=message):
        read_mentions(path)


def test_format_sniffing_and_forcing(tmp_path: Path) -> None:
    assert sniff(FIXTURES / "twcs_sample.csv") == "twcs"
    assert sniff(FIXTURES / "orangebe_sample.csv") == "orangebe"
    assert sniff(FIXTURES / "airline_sample.csv") == "airline"
    assert sniff(FIXTURES / "mentions.jsonl") == "jsonl"
    with pytest.raises(SourceError, match="TWCS"):
        read_mentions(FIXTURES / "mentions.csv", "twcs")
    with pytest.raises(SourceError, match="unknown format"):
        read_mentions(FIXTURES / "mentions.csv", "xml")


@pytest.mark.datasets
@needs_shared
def test_real_public_files() -> None:
    twcs = read_mentions(SHARED / "twcs" / "twcs_first5000.csv")
    assert twcs.format == "twcs" and len(twcs.mentions) > 2000
    assert sum(1 for m in twcs.mentions if m.context) > 1000
    orange = read_mentions(SHARED / "orangebe_webcare" / "conversations.csv")
    assert orange.format == "orangebe" and len(orange.mentions) > 4000
    import csv

    with (SHARED / "orangebe_webcare" / "conversations.csv").open(encoding="utf-8") as fh:
        customers = {r["author_id"] for r in csv.DictReader(fh) if r["is_operator"] == "0"}
    handles = {
        w[1:].rstrip(".,:!?") for m in orange.mentions for w in m.text.split() if w[:1] == "@"
    }
    assert not (handles & customers)  # no real customer handle survives
    airline = read_mentions(SHARED / "airline_sentiment" / "tweets.csv")
    assert len({m.source_id for m in airline.mentions}) == len(airline.mentions)


# --------------------------------------------------------------- active learning


def test_uncertainty_margin_and_entropy_by_hand() -> None:
    probas = {
        "needs_reply": np.array([[0.9, 0.1], [0.5, 0.5]]),
        "sentiment": np.array([[1.0, 0.0, 0.0], [0.2, 0.4, 0.4]]),
    }
    # margin: row 0 = mean(1 - 0.8, 1 - 1.0) = 0.1; row 1 = mean(1 - 0, 1 - 0) = 1
    assert uncertainty(probas, "margin") == pytest.approx([0.1, 1.0])
    h = -(0.9 * np.log(0.9) + 0.1 * np.log(0.1)) / np.log(2)
    h2 = -(0.2 * np.log(0.2) + 2 * 0.4 * np.log(0.4)) / np.log(3)
    assert uncertainty(probas, "entropy") == pytest.approx([h / 2, (1 + h2) / 2])
    with pytest.raises(ValueError, match="unknown strategy"):
        uncertainty(probas, "random")


def test_rank_orders_by_score_and_drops_near_duplicates() -> None:
    texts = [
        "@RailLink is the 8:15 to Leeds cancelled tomorrow?",
        "@RailLink is the 9:40 to Leeds cancelled tomorrow??",  # near-duplicate of 0
        "@ShopSnel where is my parcel, ordered two weeks ago",
        "@NordEnergi thanks for the quick help yesterday",
    ]
    scores = np.array([0.5, 0.9, 0.7, 0.1])
    ranking = rank(texts, scores)
    assert ranking.order == [1, 2, 3]  # 1 outranks its near-twin 0, which is dropped
    assert ranking.duplicate_of == {0: 1}
    assert rank(texts, scores, top_k=2).order == [1, 2]
    assert rank(texts).order == [0, 2, 3]  # no scores: file order
    existing = rank(texts, scores, existing=["@RailLink is the 10:15 to Leeds cancelled tomorrow?"])
    assert existing.order == [2, 3] and existing.duplicate_of == {1: -1, 0: -1}
    assert rank(texts, scores, threshold=1.01).order == [1, 2, 0, 3]  # guard off


def test_only_clearly_foreign_mentions_are_outside_the_product_languages() -> None:
    texts = [
        "@user Hola, mi pedido no ha llegado todavía, ¿me pueden ayudar?",
        "@AmazonHelp Danke für die schnelle Antwort, ich frage mal nach",
        "@VonkHelpt internet ligt er al drie dagen uit",  # Dutch, short: never dropped
        "Hvornår åbner jeres butik i Aarhus?",
        "pouvez-vous bloquer ma carte",
        "wifi kapot",  # too short to call
        "@116239 👍",
    ]
    assert outside_languages(texts) == ["es", "de", None, None, None, None, None]


def test_rank_scales_linearly() -> None:
    rng = np.random.default_rng(0)
    letters = list("abcdefghijklmnopqrstuvwxyz")
    words = ["".join(rng.choice(letters, 6)) for _ in range(500)]
    texts = [" ".join(rng.choice(words, 12)) for _ in range(5000)]
    ranking = rank(texts, rng.random(5000), top_k=200)
    assert len(ranking.order) == 200


# --------------------------------------------------------------------- agreement


def test_agreement_hand_computation() -> None:
    votes = {
        1: {1: "complaint", 2: "complaint"},
        2: {1: "complaint", 2: "request"},
        3: {1: "question", 2: "question"},
        4: {1: "praise", 2: "praise"},
        5: {1: "other"},  # one annotator only: not pairable, ignored by both measures
    }
    # kappa: p_o = 3/4; p_e = .5*.25 + .25*.25 + .25*.25 = .25 -> (.75 - .25) / .75 = 2/3
    assert cohen_pairs(votes, INTENTS) == [
        {"annotators": [1, 2], "n": 4, "kappa": 0.6667, "agreement": 0.75}
    ]
    # alpha: n = 8; D_o = 2/8; D_e = (64 - (9 + 1 + 4 + 4)) / 56 = 46/56 -> 1 - 14/46 = 16/23
    assert krippendorff_alpha(votes, INTENTS) == pytest.approx(16 / 23, abs=1e-4)
    summary = head_agreement(votes, INTENTS)
    assert summary["multi_annotated_tasks"] == 4
    assert summary["raw_agreement"] == 0.75  # 3 of the 4 pairs agree
    # three annotators on one task: 1 of 3 pairs agrees
    assert raw_agreement({1: {1: "a", 2: "a", 3: "b"}}) == pytest.approx(1 / 3, abs=1e-4)


def test_agreement_undefined_cases_are_none() -> None:
    assert krippendorff_alpha({1: {1: "yes"}}, ("yes", "no")) is None
    assert krippendorff_alpha({1: {1: "yes", 2: "yes"}}, ("yes", "no")) is None
    assert cohen_pairs({1: {1: "yes", 2: "yes"}}, ("yes", "no"))[0]["kappa"] is None
    assert cohen_pairs({1: {1: "yes"}, 2: {2: "no"}}, ("yes", "no")) == []
    assert raw_agreement({1: {1: "yes"}}) is None


def test_undefined_kappa_reads_all_agree_only_when_everyone_agreed() -> None:
    everyone = head_agreement({1: {1: "yes", 2: "yes"}, 2: {1: "yes", 2: "yes"}}, ("yes", "no"))
    assert everyone["krippendorff_alpha"] is None and everyone["raw_agreement"] == 1.0
    assert describe(everyone["krippendorff_alpha"], everyone["raw_agreement"]) == "all agree"
    assert describe(everyone["cohen_kappa"][0]["kappa"], everyone["cohen_kappa"][0]["agreement"]) == (
        "all agree"
    )
    assert describe(None, None) == "n/a" and describe(0.61234, 0.8) == "0.612"


# ------------------------------------------------------------------------ export


def ann(annotator: int, ground_truth: bool = False, at: str = "1", **labels: str) -> Annotation:
    return Annotation(1, 1, annotator, labels, ground_truth, at)


def test_resolve_majority_tie_and_ground_truth() -> None:
    labels, conflicts = resolve(
        [ann(1, intent="complaint", urgency="high"), ann(2, intent="complaint", urgency="high"),
         ann(3, intent="question", urgency="normal"), ann(4, urgency="low")]
    )  # fmt: skip
    assert labels["intent"] == "complaint"  # 2 of 3 votes: a strict majority
    assert labels["sentiment"] is None  # nobody labelled it
    assert conflicts["urgency"]["reason"] == "no majority"  # 2 of 4 is not more than half
    assert conflicts["urgency"]["votes"] == {"high": 2, "low": 1, "normal": 1}
    _, tie = resolve([ann(1, intent="praise"), ann(2, intent="other")])
    assert tie["intent"]["reason"] == "tie"
    labels, conflicts = resolve(
        [ann(1, intent="praise"), ann(2, intent="other"), ann(3, True, intent="other")]
    )
    assert labels["intent"] == "other" and not conflicts  # a ground-truth star resolves it


def test_resolve_tags_by_majority_or_ground_truth() -> None:
    def tagged(annotator: int, *tags: str, truth: bool = False) -> Annotation:
        return Annotation(1, 1, annotator, {}, truth, "1", frozenset(tags))

    votes = [tagged(1, "sarcasm", "follow_up"), tagged(2, "sarcasm"), tagged(3)]
    assert resolve_tags(votes) == ["sarcasm"]  # 2 of 3; follow_up 1 of 3 is dropped
    assert resolve_tags([*votes, tagged(4, "personal_data", truth=True)]) == ["personal_data"]


def task(tid: int, text: str, *annotations: dict[str, Any], **data: Any) -> dict[str, Any]:
    return {
        "id": tid,
        "data": {"text": text, "context": "", **data},
        "annotations": list(annotations),
    }


def raw(
    aid: int, who: int, cancelled: bool = False, tags: tuple[str, ...] = (), **labels: str
) -> dict[str, Any]:
    result = choices_result(labels)
    if tags:
        result.append(
            {"from_name": "tags", "to_name": "text", "type": "choices",
             "value": {"choices": [*tags, "not-a-tag"]}}
        )  # fmt: skip
    return {
        "id": aid,
        "completed_by": who,
        "was_cancelled": cancelled,
        "ground_truth": False,
        "updated_at": f"2026-01-01T00:00:{aid:02d}Z",
        "result": result,
    }


FULL = {"intent": "complaint", "sentiment": "negative", "needs_reply": "yes", "urgency": "high"}


def test_snapshot_merges_duplicate_tasks_and_skips_bad_ones() -> None:
    tasks = [
        task(1, "Storing in Utrecht?", raw(1, 1, tags=("outage_question",), **FULL), lang="nl"),
        task(2, "storing  in utrecht?", raw(2, 2, tags=("outage_question",), **FULL), lang="nl"),
        task(3, "x" * 1001, raw(3, 1, **FULL), lang="en"),  # too long for the schema
        task(4, "Thanks!", raw(4, 1, cancelled=True), raw(5, 2, intent="praise"), lang="en"),
        task(5, "no annotations", lang="en"),
        task(6, "Danke!", raw(6, 1, intent="praise"), raw(7, 1, intent="other")),  # latest wins
    ]
    snap = build_snapshot(tasks, project_id=7, base_url="http://127.0.0.1:1")
    rows = {r.text: r for r in snap.rows}
    assert set(rows) == {"Storing in Utrecht?", "Thanks!", "Danke!"}
    assert rows["Thanks!"].labels == {
        "intent": "praise",
        "sentiment": None,
        "needs_reply": None,
        "urgency": None,
    }  # fmt: skip  -- partial labels stay None
    assert rows["Danke!"].labels["intent"] == "other"
    assert rows["Storing in Utrecht?"].tags == ["outage_question"]  # both ticked it
    assert rows["Thanks!"].tags == []
    assert rows["Danke!"].lang in {"en", "nl", "da", "fr"}  # detected when the task has none
    assert snap.invalid == [{"task_id": 3, "reason": "field 'text' has 1001 characters (max 1000)"}]
    assert snap.counts["cancelled_annotations"] == 1
    assert snap.agreement["intent"]["cohen_kappa"] == [
        {"annotators": [1, 2], "n": 1, "kappa": None, "agreement": 1.0}
    ]
    assert snap.counts["doubly_labelled_mentions"] == 1  # the merged Utrecht tasks
    # each annotator's own labels, one record per annotator and mention
    own = {(r["task_id"], r["annotator"]): r for r in snap.per_annotator}
    assert set(own) == {(1, 1), (2, 2), (3, 1), (4, 2), (6, 1)}
    assert own[(6, 1)]["intent"] == "other" and own[(1, 1)]["tags"] == ["outage_question"]
    assert own[(1, 1)]["id"] == own[(2, 2)]["id"] == "ls-" + text_hash("Storing in Utrecht?")
    assert snap.annotators == [
        {"id": 1, "labelled": 3, "cancelled": 1},  # task 6 counts once (latest annotation)
        {"id": 2, "labelled": 2, "cancelled": 0},
    ]


def test_an_annotation_saved_over_by_someone_else_counts_as_theirs() -> None:
    base = raw(1, 1, **FULL) | {"created_at": "2026-01-01T00:00:00Z"}
    made_for_someone = base | {"updated_by": 9, "updated_at": "2026-01-01T00:00:00.5Z"}
    assert author(made_for_someone) == (1, None)  # an admin creating it for annotator 1
    overwritten = base | {"updated_by": 2, "updated_at": "2026-01-01T00:05:00Z"}
    assert author(overwritten) == (2, 1)  # annotator 2 opened 1's annotation and saved it
    assert author(overwritten | {"ground_truth": True}) == (1, None)  # the admin's star
    assert author(base | {"updated_by": {"id": 1}}) == (1, None)
    snap = build_snapshot([task(1, "Storing?", overwritten, lang="nl")], project_id=1)
    assert snap.annotators[0]["id"] == 2 and snap.per_annotator[0]["annotator"] == 2
    assert snap.reattributed == [
        {"task_id": 1, "annotation_id": 1, "completed_by": 1, "updated_by": 2}
    ]
    assert snap.counts["reattributed_annotations"] == 1


def _snapshot(intent: str = "complaint") -> Any:
    return build_snapshot(
        [task(1, "Storing?", raw(1, 1, **{**FULL, "intent": intent}), lang="nl")], project_id=1
    )


def test_versions_are_written_once_and_atomically(tmp_path: Path) -> None:
    root = tmp_path / "versions"
    source = {"kind": "labelstudio", "project_id": 1}
    first = write_version(_snapshot(), root, source=source)
    assert first.created and first.version == "v0001"
    assert [r.id for r in load_dataset([first.path])] == ["ls-" + text_hash("Storing?")]
    assert set(os.listdir(first.path)) == {
        "dataset.jsonl", "conflicts.jsonl", "annotations.ndjson", "manifest.json",
    }  # fmt: skip
    assert first.manifest["files"]["annotations.ndjson"]["rows"] == 1
    same = write_version(_snapshot(), root, source=source)
    assert not same.created and same.version == "v0001"
    assert [p.name for p in version_dirs(root)] == ["v0001"]
    changed = write_version(_snapshot("request"), root, source=source)
    assert changed.created and changed.version == "v0002"
    assert changed.manifest["previous"] == "v0001"


def test_failed_export_leaves_previous_version_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "versions"
    source = {"kind": "labelstudio", "project_id": 1}
    write_version(_snapshot(), root, source=source)
    before = {p.name: p.read_bytes() for p in (root / "v0001").iterdir()}

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("labeling.export.os.fsync", disk_full)
    with pytest.raises(OSError, match="No space"):
        write_version(_snapshot("request"), root, source=source)
    assert sorted(os.listdir(root)) == ["v0001"]  # no v0002, no temp folder left
    assert {p.name: p.read_bytes() for p in (root / "v0001").iterdir()} == before


def test_version_names_sort_numerically(tmp_path: Path) -> None:
    for name in ("v0009", "v10000", "v0010", "notes", ".v0011.tmp-1"):
        (tmp_path / name).mkdir()
    assert [p.name for p in version_dirs(tmp_path)] == ["v0009", "v0010", "v10000"]
    assert next_version_name(tmp_path) == "v10001"
    assert next_version_name(tmp_path / "absent") == "v0001"


def test_mlflow_params_name_versions_and_detect_edits(tmp_path: Path) -> None:
    result = write_version(_snapshot(), tmp_path, source={})
    params = mlflow_params([tmp_path / "seed", result.path])
    assert params == {"data.versions": "v0001", "data.v0001.sha256": result.manifest["sha256"]}
    with (result.path / "dataset.jsonl").open("a") as fh:
        fh.write("\n")
    assert mlflow_params([result.path])["data.v0001.sha256"] == "MODIFIED"


def test_public_url_drops_credentials_and_paths() -> None:
    assert (
        public_url("https://bob:secret@ls.example.com:8443/x?y=1") == "https://ls.example.com:8443"
    )
    assert public_url("not a url") == ""


# ------------------------------------------------------------------------ server


def test_data_dir_is_made_owner_only(tmp_path: Path) -> None:
    data = tmp_path / "ls"
    (data / "media" / "upload").mkdir(parents=True)
    (data / server.DATABASE).write_bytes(b"tokens")
    (data / "media" / "upload" / "f.json").write_text("{}")
    outside = tmp_path / "elsewhere"
    outside.mkdir(mode=0o755)
    (data / "link").symlink_to(outside)
    server.restrict(data)
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert stat.S_IMODE((data / "media" / "upload").stat().st_mode) == 0o700
    assert stat.S_IMODE((data / server.DATABASE).stat().st_mode) == 0o600
    assert stat.S_IMODE((data / "media" / "upload" / "f.json").stat().st_mode) == 0o600
    assert stat.S_IMODE(outside.stat().st_mode) == 0o755  # a link's target is left alone


def test_credentials_are_private_and_created_once(tmp_path: Path) -> None:
    creds, created = server.ensure_credentials(tmp_path)
    again, created_again = server.ensure_credentials(tmp_path)
    assert created and not created_again and again == creds
    assert stat.S_IMODE((tmp_path / server.CREDENTIALS).stat().st_mode) == 0o600
    assert len(creds.token) == 40


def test_server_env_is_clean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HOST", "PORT", "DJANGO_SETTINGS_MODULE", "DEBUG", "USERNAME", "LABEL_STUDIO_X"):
        monkeypatch.setenv(name, "leak")
    env = server.server_env(tmp_path, server.Credentials("a@example.com", "pw", "tok123456"))
    assert not {"HOST", "PORT", "DEBUG", "USERNAME"} & set(env)
    # Label Studio's settings plus the guard that keeps annotations their author's
    assert env["DJANGO_SETTINGS_MODULE"] == "webcare_ls_settings"
    assert (Path(env["PYTHONPATH"]) / "webcare_ls_settings.py").is_file()
    assert env["SENTRY_DSN"] == env["FRONTEND_SENTRY_DSN"] == ""
    assert env["LATEST_VERSION_CHECK"] == "false" and env["COLLECT_ANALYTICS"] == "false"
    assert env["LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN"] == "true"
    assert all(env[k].startswith(str(tmp_path)) for k in env if k.startswith("XDG_"))
    assert env["LABEL_STUDIO_BASE_DATA_DIR"] == str(tmp_path)


def test_port_checks() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        assert not server.port_is_free(sock.getsockname()[1])
    assert server.port_is_free(server.free_port())


def test_server_start_without_venv_is_a_clear_error(tmp_path: Path) -> None:
    env = {"WEBCARE_VAR_DIR": str(tmp_path / "var"), "WEBCARE_LS_VENV": str(tmp_path / "none")}
    result = CliRunner().invoke(app, ["server", "start"], env=env)
    assert result.exit_code == 1
    assert "install-label-studio.sh" in result.stderr
    assert not (tmp_path / "var").exists()


def test_cli_usage_errors(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["import", "x.csv", "--strategy", "coin"])
    assert result.exit_code == 2 and "unknown --strategy" in result.stderr
    for args, message in (
        (["--next"], "--next needs --top-k"),
        (["--limit", "5", "--sample", "5"], "--limit or --sample"),
        (["--other-languages", "drop"], "unknown --other-languages"),
    ):
        result = CliRunner().invoke(app, ["import", "x.csv", *args])
        assert result.exit_code == 2 and message in result.stderr, result.output
    env = {"LABEL_STUDIO_URL": "http://127.0.0.1:9", "LABEL_STUDIO_API_KEY": None}
    result = CliRunner().invoke(app, ["export"], env=env)
    assert result.exit_code == 1 and "LABEL_STUDIO_API_KEY is not" in result.stderr


def test_limit_and_sample_pick_the_same_mentions_every_time() -> None:
    from labeling.cli import _subset

    items = list(range(100))
    assert _subset(items, 5, None, 0) == ([0, 1, 2, 3, 4], "the first 5")
    picked, how = _subset(items, None, 10, 0)
    assert len(picked) == 10 and picked == sorted(picked) and how == "a random 10 (seed 0)"
    assert _subset(items, None, 10, 0)[0] == picked != _subset(items, None, 10, 1)[0]
    assert _subset(items, None, 500, 0) == (items, "")
