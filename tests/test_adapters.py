"""Adapters for the public tweet sets: mapping onto the taxonomy, dedupe, stable splits.

The fixtures in tests/fixtures/public/ are invented rows in the shape of the
real files; the ``datasets`` tests read the real sets and skip without them.
"""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest

from model.split import assign
from tests.conftest import SHARED, needs_shared
from training.adapters import (
    PUBLIC_SETS,
    PublicDataError,
    dataset_version,
    load_airline,
    load_complaints,
    load_dutch,
    load_public,
    load_tweeteval,
    parse_names,
)
from training.data import split_rows

FIXTURES = Path(__file__).parent / "fixtures" / "public"


def by_id(rows):
    return {r.id: r for r in rows}


def test_airline_maps_sentiment_and_complaint_evidence() -> None:
    rows = by_id(load_airline(FIXTURES))
    late = rows["airline:900000000000000001"]
    assert late.labels["sentiment"] == "negative"
    assert late.labels["intent"] == "complaint"
    assert late.labels["needs_reply"] is None and late.labels["urgency"] is None
    assert (late.source, late.lang, late.domain) == ("airline", "en", "airline")
    # "Can't Tell" says nothing about what went wrong: no complaint label.
    assert rows["airline:900000000000000004"].labels["intent"] is None
    # A confidently positive tweet is known not to be a complaint; an unsure one is not.
    praise = rows["airline:900000000000000002"]
    assert praise.labels["intent"] is None
    assert praise.excludes == {"intent": ["complaint"]}
    assert "&amp;" not in praise.text and "&" in praise.text
    assert rows["airline:900000000000000005"].excludes == {}
    assert rows["airline:900000000000000003"].labels["sentiment"] == "neutral"


def test_airline_dedupes_ids_and_texts_and_skips_bad_labels() -> None:
    rows = load_airline(FIXTURES)
    ids = [r.id for r in rows]
    assert len(ids) == len(set(ids)) == 8
    # Repeated tweet id: the more confident judgement wins.
    assert by_id(rows)["airline:900000000000000006"].labels["intent"] == "complaint"
    assert "\n" in by_id(rows)["airline:900000000000000006"].text
    # Same text (up to case and spaces) under another id is dropped.
    assert "airline:900000000000000007" not in ids
    assert "airline:900000000000000008" not in ids


def test_complaints_not_a_complaint_is_an_exclusion_not_a_label() -> None:
    rows = by_id(load_complaints(FIXTURES))
    assert len(rows) == 5  # one duplicate text removed
    yes, no = rows["complaints:800000000000000001"], rows["complaints:800000000000000002"]
    assert yes.labels["intent"] == "complaint" and yes.excludes == {}
    assert no.labels["intent"] is None
    assert no.excludes == {"intent": ["complaint"]}
    assert all(r.labels["sentiment"] is None for r in rows.values())
    assert rows["complaints:800000000000000004"].domain == "random_tweet"


def test_tweeteval_and_dutch_label_sentiment_only() -> None:
    tweets = load_tweeteval(FIXTURES)
    assert [r.labels["sentiment"] for r in tweets] == ["neutral", "negative", "positive"]
    assert all(r.id.startswith("tweeteval:") and r.lang == "en" for r in tweets)
    dutch = load_dutch(FIXTURES)
    assert [r.labels["sentiment"] for r in dutch] == ["positive", "neutral", "negative"]
    assert all(r.lang == "nl" and r.source == "dutch" for r in dutch)
    assert all(r.text == r.text.strip() for r in dutch)
    for row in tweets + dutch:
        assert row.labels["intent"] is None and not row.excludes


def test_split_is_a_hash_of_source_and_id_and_stable() -> None:
    rows = load_public(list(PUBLIC_SETS), FIXTURES)
    assert len({r.id for r in rows}) == len(rows)
    parts = split_rows(rows)
    for split, members in parts.items():
        assert all(assign(r.id) == split for r in members)
    # Loading one set alone gives its rows the same split as loading all of them.
    alone = split_rows(load_airline(FIXTURES))
    for split in alone:
        assert {r.id for r in alone[split]} <= {r.id for r in parts[split]}


def test_parse_names() -> None:
    assert parse_names("airline, complaints") == ["airline", "complaints"]
    assert parse_names("all") == list(PUBLIC_SETS)
    assert parse_names(None) == []
    with pytest.raises(ValueError, match="unknown public set"):
        parse_names("airline,imdb")


def test_dataset_version_changes_with_the_file(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES, tmp_path / "public")
    root = tmp_path / "public"
    before = dataset_version("dutch", root)
    assert before == dataset_version("dutch", FIXTURES)
    with (root / "dutch_political_polarity" / "train.csv").open("a") as fh:
        fh.write(" Nog een verzonnen tweet ,neutral\n")
    assert dataset_version("dutch", root) != before


def test_missing_folder_says_where(tmp_path: Path) -> None:
    with pytest.raises(PublicDataError, match="WEBCARE_SHARED_DATASETS"):
        load_airline(tmp_path)
    with pytest.raises(PublicDataError, match="not found"):
        dataset_version("tweeteval", tmp_path)


@pytest.mark.datasets
@needs_shared
def test_real_sets_load_with_unique_ids_and_every_split() -> None:
    for name in PUBLIC_SETS:
        rows = load_public([name], SHARED)
        assert len(rows) > 500, name
        assert len({r.id for r in rows}) == len(rows), name
        assert len({" ".join(r.text.lower().split()) for r in rows}) == len(rows), name
        counts = Counter(assign(r.id) for r in rows)
        assert set(counts) == {"train", "validation", "test"}, name
        assert all(r.source == name and r.id.startswith(f"{name}:") for r in rows)


@pytest.mark.datasets
@needs_shared
def test_real_airline_drops_repeated_ids() -> None:
    rows = load_airline(SHARED)
    assert 11_000 < len(rows) < 11_660
    labelled = Counter(r.labels["sentiment"] for r in rows)
    assert set(labelled) == {"negative", "neutral", "positive"}
    assert sum(r.labels["intent"] == "complaint" for r in rows) > 5000
