"""Suggested replies without a server: template validation, the builder with fixed labels,
first names, variants, the feedback columns and the usage summary."""

from __future__ import annotations

import copy
import json
import sqlite3
import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model.feedback import FeedbackStore
from model.pii import pii_kinds
from model.taxonomy import INTENT, LANGUAGES
from serving.replies import first_name, pick_variant, suggest
from serving.reply_templates import (
    AGENT_MAX,
    CHANNELS,
    DEFAULT_TEMPLATES,
    FIRST_NAME_MAX,
    HANDOVER,
    MAX_REPLY_CHARS,
    ReplyTemplates,
    TemplatesError,
    default_templates,
)
from serving.reply_usage import outcome, summarise

T = default_templates()
DM, CARE = T.brand.dm_link, T.brand.care_handle
KINDS = (*INTENT.labels, HANDOVER)
ALL = [(k, lang, ch) for k in KINDS for lang in LANGUAGES for ch in CHANNELS]


def question(lang: str | None = "nl", **kw):
    """The suggestion for a public question with fixed labels (no model involved)."""
    return suggest(T, mention_id=kw.pop("mention_id", "q1"), text="x", intent="question", channel="public",
                   lang=lang, **kw)  # fmt: skip


def test_shipped_templates_cover_every_intent_language_and_channel() -> None:
    assert T.languages[: len(LANGUAGES)] == LANGUAGES
    for kind, lang, channel in ALL:
        template = T.get(kind, lang, channel)
        assert len(template.named) >= 2, template.id
        assert len(set(template.named)) == len(template.named), f"{template.id}: duplicate variants"


@pytest.mark.parametrize(("kind", "lang", "channel"), ALL)
def test_every_variant_fits_with_the_longest_values_and_holds_no_personal_data(
    kind: str, lang: str, channel: str
) -> None:
    template = T.get(kind, lang, channel)
    for named, neutral in zip(template.named, template.neutral, strict=True):
        longest = T.fill(named, "W" * FIRST_NAME_MAX, "W" * AGENT_MAX)
        assert len(longest) <= MAX_REPLY_CHARS, longest
        plain = T.fill(neutral, None, T.brand.agent)
        assert "{" not in plain and " ," not in plain and "  " not in plain, plain
        assert pii_kinds(plain) == [], plain
        if channel == "private":
            assert DM in plain
        if kind == HANDOVER:
            assert CARE in plain


@settings(max_examples=300, deadline=None)
@given(
    where=st.sampled_from(ALL),
    mention_id=st.text(min_size=1, max_size=128),
    name=st.one_of(st.none(), st.text(max_size=128)),
    agent=st.one_of(st.none(), st.text(max_size=AGENT_MAX)),
)
def test_any_name_and_agent_render_within_280(
    where: tuple[str, str, str], mention_id: str, name: str | None, agent: str | None
) -> None:
    kind, lang, channel = where
    s = suggest(
        T, mention_id=mention_id, text="hoi", intent="other" if kind == HANDOVER else kind,
        channel=channel, lang=lang, author_name=name, agent=agent, handover=kind == HANDOVER,
    )  # fmt: skip
    assert len(s.text) <= MAX_REPLY_CHARS
    assert s.template_id == f"{kind}.{lang}.{channel}" and 1 <= s.variant <= 2
    assert "{first_name}" not in s.text and "{agent}" not in s.text


@pytest.mark.parametrize(
    "name",
    ["@sanne_88", "sanne@voorbeeld.nl", "user12345", "0612345678", "S4nne", "🌸🌸", "", None, "Dhr. Jansen",
     "J."],
)
def test_handles_emails_and_digits_fall_back_to_the_neutral_greeting(name: str | None) -> None:
    assert first_name(name)[0] is None
    s = question(author_name=name)
    assert s.text.startswith(("Hoi,", "Hallo,")), s.text
    assert any(r.startswith("neutral greeting") for r in s.reasons)


@pytest.mark.parametrize(
    ("name", "expected"),
    [("Sanne de Vries", "Sanne"), ("sanne", "Sanne"), ("JAN-WILLEM", "Jan-Willem"), ("🌸 Zoë", "Zoë"),
     ("Anne-Marie Dupont", "Anne-Marie"), ("O'Brien", "O'Brien"), ("Mette!", "Mette")],
)  # fmt: skip
def test_first_name_is_the_cleaned_first_token(name: str, expected: str) -> None:
    assert first_name(name)[0] == expected


def test_dutch_complaint_with_phone_gets_a_private_dutch_hand_off() -> None:
    text = "Al 3 dagen geen internet en niemand reageert. Bel me op 06-12345678!"
    s = suggest(
        T, mention_id="1", text=text, intent="complaint", channel="private", lang="nl",
        author_name="Sanne de Vries", agent="Kim", personal_data=["phone"],
    )  # fmt: skip
    assert s.template_id == "complaint.nl.private" and s.channel == "private" and s.language == "nl"
    assert s.text.startswith("Hoi Sanne,") and s.text.endswith("^Kim")
    assert DM in s.text and "12345678" not in s.text
    assert "personal data in the text (phone) is not repeated" in s.reasons


def test_name_matching_personal_data_in_the_text_is_not_repeated() -> None:
    text = "mijn klantnummer is KL-884422, bel me"
    s = suggest(
        T, mention_id="1", text=text, intent="request", channel="private", lang="nl",
        author_name="Sanne", agent="KL-884422", personal_data=["account"],
    )  # fmt: skip
    assert "KL-884422" not in s.text and "Sanne" not in s.text
    assert s.text.endswith(f"^{T.brand.agent}")


def test_language_falls_back_to_the_brand_default_with_a_reason() -> None:
    s = question("de", author_name="Hans")
    assert s.language == T.brand.default_language == "nl"
    assert "no templates for language 'de': brand default nl" in s.reasons
    unknown = question(None)
    assert unknown.language == "nl" and "language not recognised: brand default nl" in unknown.reasons


def test_each_language_answers_in_its_own_words() -> None:
    opening = {"nl": ("Hoi", "Hallo"), "en": ("Hi",), "da": ("Hej",), "fr": ("Bonjour",)}
    for lang in LANGUAGES:
        s = question(lang, author_name="Kim")
        assert s.text.startswith(tuple(f"{o} Kim," for o in opening[lang])), s.text


def test_variant_is_stable_per_mention_and_spread_over_a_queue() -> None:
    assert pick_variant("m-1", "complaint.nl.public", 2) == pick_variant("m-1", "complaint.nl.public", 2)
    picked = [pick_variant(str(i), "complaint.nl.public", 2) for i in range(200)]
    assert 60 < sum(picked) < 140  # both variants get used


def test_marketing_handle_detection() -> None:
    assert T.brand.is_marketing("@VonkNL", "hoi")
    assert T.brand.is_marketing("vonknl", "hoi")
    assert not T.brand.is_marketing("@VonkHelpt", "@VonkNL hoi")
    assert T.brand.is_marketing(None, "@VonkNL mijn factuur klopt niet")
    assert not T.brand.is_marketing(None, "@VonkNL @VonkHelpt mijn factuur klopt niet")
    assert not T.brand.is_marketing(None, "@VonkHelpt storing")


# ---------------------------------------------------------------- broken files


def _toml(raw: dict, prefix: str = "") -> str:
    """Just enough TOML for the templates file (strings, lists of strings, tables)."""
    plain = {k: v for k, v in raw.items() if not isinstance(v, dict)}
    scalars = [f"{k} = {json.dumps(v, ensure_ascii=False)}" for k, v in plain.items()]
    out = ([f"[{prefix}]"] if prefix and scalars else []) + scalars
    for k, v in raw.items():
        if isinstance(v, dict):
            out.append(_toml(v, f"{prefix}.{k}" if prefix else k))
    return "\n".join(out)


def _broken(tmp_path: Path, change) -> Path:
    raw = copy.deepcopy(tomllib.loads(DEFAULT_TEMPLATES.read_text(encoding="utf-8")))
    change(raw)
    path = tmp_path / "templates.toml"
    path.write_text(_toml(raw), encoding="utf-8")
    return path


def _set(path: str, value):
    def change(raw: dict) -> None:
        *parents, last = path.split(".")
        node = raw
        for p in parents:
            node = node[p]
        if value is None:
            del node[last]
        else:
            node[last] = value(node[last]) if callable(value) else value

    return change


def test_the_test_serialiser_round_trips(tmp_path: Path) -> None:
    assert ReplyTemplates.load(_broken(tmp_path, lambda raw: None)).templates == T.templates


@pytest.mark.parametrize(
    ("change", "key", "problem"),
    [
        (_set("replies.complaint.nl.public", lambda v: [v[0].replace("{agent}", "{naam}"), v[1]]),
         "replies.complaint.nl.public[1]", "unknown placeholder {naam}"),
        (_set("replies.question.da", None), "replies.question.da", "missing language"),
        (_set("handover.fr", None), "handover.fr", "missing language"),
        (_set("replies.praise.fr.private", None), "replies.praise.fr.private", "Field required"),
        (_set("replies.feedback", None), "replies.feedback", "missing"),
        (_set("replies.rant", {"nl": {"public": ["a {agent}"] * 2, "private": ["b {agent}"] * 2}}),
         "replies.rant", "unknown intent"),
        (_set("replies.other.en.public", lambda v: [v[0], v[1] + " Lorem ipsum dolor sit amet." * 6]),
         "replies.other.en.public[2]", "the limit is 280"),
        (_set("replies.request.nl.private", lambda v: [v[0].replace("{dm_link}", "via DM"), v[1]]),
         "replies.request.nl.private[1]", "must contain {dm_link}"),
        (_set("replies.question.en.public", lambda v: ["{first_name}, good question! ^{agent}", v[1]]),
         "replies.question.en.public[1]", "{first_name} must follow a word"),
        (_set("replies.question.en.public", lambda v: [v[0].replace(" ^{agent}", ""), v[1]]),
         "replies.question.en.public[1]", "must sign with {agent}"),
        (_set("handover.nl.public", lambda v: [v[0].replace("{care_handle}", "de klantenservice"), v[1]]),
         "handover.nl.public[1]", "{care_handle}"),
        (_set("replies.question.en.public", lambda v: [v[0], "Hi {first_name ^{agent}"]),
         "replies.question.en.public[2]", "literal brace"),
        (_set("replies.question.en.public", lambda v: [v[0]]), "replies.question.en.public", "at least 2"),
        (_set("brand.care_handle", "VonkHelpt"), "brand.care_handle", "should match pattern"),
        (_set("brand.default_language", "de"), "brand.default_language", "no templates for 'de'"),
    ],
)  # fmt: skip
def test_broken_file_is_a_clear_error_naming_file_and_key(
    tmp_path: Path, change, key: str, problem: str
) -> None:
    path = _broken(tmp_path, change)
    with pytest.raises(TemplatesError) as caught:
        ReplyTemplates.load(path)
    line = next((ln for ln in str(caught.value).splitlines() if key in ln), "")
    assert f"{path}: {key}" in line and problem in line, str(caught.value)


def test_unreadable_or_invalid_toml(tmp_path: Path) -> None:
    with pytest.raises(TemplatesError, match="cannot read"):
        ReplyTemplates.load(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("version = \n")
    with pytest.raises(TemplatesError, match=rf"{bad}: not valid TOML"):
        ReplyTemplates.load(bad)


# ---------------------------------------------------------------- feedback and the usage summary


def test_old_feedback_database_gains_the_reply_columns(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as conn:  # the table as the first release created it
        conn.execute(
            "CREATE TABLE feedback (id INTEGER PRIMARY KEY AUTOINCREMENT, mention_id VARCHAR(128) NOT NULL, "
            "text TEXT NOT NULL, lang VARCHAR(8), intent VARCHAR(16), sentiment VARCHAR(16), "
            "needs_reply BOOLEAN, urgency VARCHAR(16), replied BOOLEAN, replied_at DATETIME, "
            "agent VARCHAR(64), model_version VARCHAR(32), received_at DATETIME NOT NULL, "
            "sent_to_labeling_at DATETIME)"
        )
        conn.execute(
            "INSERT INTO feedback (mention_id, text, received_at) "
            "VALUES ('old', 'oud', '2026-01-01 10:00:00')"
        )
    store = FeedbackStore(f"sqlite:///{db}")
    store.add({"mention_id": "new", "text": "Bel 06-12345678", "template_id": "complaint.nl.private",
               "variant": 1, "sent_reply": "Hoi Sanne, we bellen je op 06-12345678 ^Kim"})  # fmt: skip
    assert store.all_texts() == ["oud", "Bel [PHONE]"]
    assert [r.mention_id for r in store.pending()] == ["old", "new"]
    (record,) = store.replies()
    assert record.sent_reply == "Hoi Sanne, we bellen je op [PHONE] ^Kim"
    FeedbackStore(f"sqlite:///{db}")  # opening again changes nothing


def test_outcome_kept_edited_replaced() -> None:
    suggested = "Hoi Sanne, wat vervelend! Stuur je ons een DM? ^Kim"
    assert outcome(suggested, "hoi sanne,  wat vervelend! Stuur je ons een DM? ^Kim") == "kept"
    assert outcome(suggested, "Hoi Sanne, wat vervelend zeg! Stuur je ons even een DM? ^Kim") == "edited"
    assert outcome(suggested, "Storing is opgelost, herstart je modem.") == "replaced"


def test_summary_ranks_the_most_rewritten_templates_first(tmp_path: Path) -> None:
    from model.feedback import ReplyRecord

    q = T.get("question", "nl", "public")
    as_is = T.fill(q.named[0], "Sanne", "Kim")
    rows = [
        ReplyRecord("question.nl.public", 1, None, as_is),  # no suggestion stored: matched on the template
        ReplyRecord("question.nl.public", 1, as_is, as_is),
        ReplyRecord("complaint.nl.private", 2, "Hoi, sorry! DM ons ^Kim", "Wij bellen u morgen terug."),
        ReplyRecord("complaint.nl.private", 2, "Hoi, sorry! DM ons ^Kim", "Hoi, sorry! DM ons even ^Kim"),
        ReplyRecord("gone.nl.public", 1, None, "whatever"),
    ]
    usage = summarise(rows, T)
    assert [(u.template_id, u.kept, u.edited, u.replaced, u.unknown) for u in usage] == [
        ("complaint.nl.private", 0, 1, 1, 0),
        ("question.nl.public", 2, 0, 0, 0),
        ("gone.nl.public", 0, 0, 0, 1),
    ]
