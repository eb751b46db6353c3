"""Data tests: the validator's error kinds and the bundled seed data itself."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from model.dataset import KNOWN_TAGS, DatasetError, fingerprint, iter_errors, load_dataset, load_jsonl
from model.settings import Settings
from model.taxonomy import BY_NAME
from webcare_cli import app

GOOD = {
    "id": "nl-rail-9999",
    "text": "Trein weer te laat",
    "lang": "nl",
    "domain": "rail",
    "intent": "complaint",
    "sentiment": "negative",
    "needs_reply": "no",
    "urgency": "low",
}


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("{not json", "invalid JSON"),
        ("[1, 2]", "expected a JSON object"),
        (json.dumps({k: v for k, v in GOOD.items() if k != "text"}), "missing field 'text'"),
        (json.dumps({**GOOD, "text": "   "}), "field 'text' is empty"),
        (json.dumps({**GOOD, "text": "x" * 1001}), "max 1000"),
        (json.dumps({**GOOD, "lang": "Dutch"}), "ISO 639-1"),
        (json.dumps({**GOOD, "intent": "rant"}), "invalid intent 'rant'"),
        (json.dumps({k: v for k, v in GOOD.items() if k != "urgency"}), "missing label 'urgency'"),
        (json.dumps({**GOOD, "tags": ["funny"]}), "unknown tag"),
        (json.dumps({**GOOD, "context": 5}), "'context' must be a string"),
        (json.dumps({**GOOD, "id": 7}), "'id' must be a string"),
    ],
)
def test_each_error_names_file_line_and_reason(tmp_path: Path, line: str, reason: str) -> None:
    path = write(tmp_path / "d.jsonl", [json.dumps(GOOD | {"id": "a"}), line])
    errors = list(iter_errors(path))
    assert len(errors) == 1
    assert errors[0].startswith(f"{path}:2: ")
    assert reason in errors[0]


def test_duplicate_ids_and_bad_utf8(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_bytes((json.dumps(GOOD) + "\n" + json.dumps(GOOD) + "\n").encode() + b'{"id": "\xff"}\n')
    errors = list(iter_errors(path))
    assert errors[0] == f"{path}:2: duplicate id 'nl-rail-9999' (first on line 1)"
    assert errors[1] == f"{path}:3: not valid UTF-8"
    with pytest.raises(DatasetError, match=r"d.jsonl:2: duplicate id .*and 1 more"):
        load_jsonl(path)


def test_partial_labels_allowed_when_not_required(tmp_path: Path) -> None:
    path = write(
        tmp_path / "p.jsonl", [json.dumps({"id": "x", "text": "hi", "lang": "en", "sentiment": "positive"})]
    )
    (row,) = load_jsonl(path, require_labels=False)
    assert row.labels == {"intent": None, "sentiment": "positive", "needs_reply": None, "urgency": None}


def test_validate_cli_exit_codes(tmp_path: Path) -> None:
    good = write(tmp_path / "good.jsonl", [json.dumps(GOOD)])
    bad = write(
        tmp_path / "bad.jsonl", [json.dumps(GOOD), json.dumps({**GOOD, "id": "b", "sentiment": "meh"})]
    )
    runner = CliRunner()
    ok = runner.invoke(app, ["validate", str(good)])
    assert ok.exit_code == 0, ok.output
    res = runner.invoke(app, ["validate", str(bad)])
    assert res.exit_code == 1
    assert f"{bad}:2: invalid sentiment 'meh'" in res.output


def test_fingerprint_changes_with_content(tmp_path: Path) -> None:
    path = write(tmp_path / "d.jsonl", [json.dumps(GOOD)])
    before = fingerprint([path])
    write(path, [json.dumps({**GOOD, "urgency": "high"})])
    assert fingerprint([path]) != before


# --- the bundled seed data (the dataset card's promises) ---------------------------------


@pytest.fixture(scope="module")
def seed() -> list:
    settings = Settings()
    for file in sorted(settings.seed_dir.glob("*.jsonl")):
        assert list(iter_errors(file)) == [], file
    return load_dataset([settings.seed_dir], require_labels=True)


def test_seed_size_and_languages(seed: list) -> None:
    langs = Counter(r.lang for r in seed)
    assert len(seed) >= 800
    assert langs["nl"] >= 300 and langs["en"] >= 250 and langs["da"] >= 120 and langs["fr"] >= 60


def test_seed_every_intent_and_label_present(seed: list) -> None:
    for name, h in BY_NAME.items():
        counts = Counter(r.labels[name] for r in seed)
        assert set(counts) == set(h.labels), name
    intents = Counter(r.labels["intent"] for r in seed)
    assert min(intents.values()) >= 80


def test_seed_hard_cases_present(seed: list) -> None:
    tags = Counter(t for r in seed for t in r.tags)
    for tag in sorted(KNOWN_TAGS):
        assert tags[tag] >= 20, tag


def test_seed_texts_unique(seed: list) -> None:
    texts = Counter(r.text.strip().lower() for r in seed)
    dupes = [t for t, n in texts.items() if n > 1]
    assert not dupes, dupes[:3]


def test_committed_versions_hold_no_public_tweets() -> None:
    """Exported versions in the repo may only hold the team's own mentions."""
    from labeling.export import PUBLIC_ORIGINS

    for manifest in sorted(Settings().datasets_dir.glob("v*/manifest.json")):
        origins = set(json.loads(manifest.read_text()).get("per_origin", {}))
        assert not origins & set(PUBLIC_ORIGINS), f"{manifest}: rows from {origins}"
