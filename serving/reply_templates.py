"""Suggested-reply templates: a versioned TOML file, checked once at start-up.

The texts and brand settings live in ``serving/templates/default.toml`` (or
``WEBCARE_REPLY_TEMPLATES``) so a webcare lead changes wording without code.
Every problem a request could hit (an unknown placeholder, a missing intent,
language or channel, a variant over 280 characters with the longest allowed
values) is found here and reported as ``file: key: problem``, never as a 500.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from string import Formatter

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from model.taxonomy import INTENT, LANGUAGES

DEFAULT_TEMPLATES = Path(__file__).with_name("templates") / "default.toml"
PLACEHOLDERS = ("first_name", "agent", "dm_link", "brand", "care_handle")
CHANNELS = ("public", "private")
HANDOVER = "handover"
MAX_REPLY_CHARS = 280  # one tweet; shorter platforms are not targeted
FIRST_NAME_MAX = 20  # longer first names get the neutral greeting
AGENT_MAX = 24  # longest agent signature a request may send
_HANDLE = r"^@\w{1,30}$"
# without a name, "{first_name}" goes together with the space or comma before it
_DROP_NAME = re.compile(r"(?:,[ \t]*|[ \t]+)\{first_name\}")


class TemplatesError(ValueError):
    """A templates file that cannot be served; the message names file and key."""


class Brand(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=40)
    care_handle: str = Field(pattern=_HANDLE)
    marketing_handles: list[str] = Field(default_factory=list)
    dm_link: str = Field(pattern=r"^https://\S+$", max_length=120)
    agent: str = Field(min_length=1, max_length=AGENT_MAX)
    default_language: str = Field(pattern=r"^[a-z]{2}$")

    @field_validator("marketing_handles")
    @classmethod
    def _handles(cls, value: list[str]) -> list[str]:
        bad = [h for h in value if not re.match(_HANDLE, h)]
        if bad:
            raise ValueError(f"not a handle like @Brand: {', '.join(map(repr, bad))}")
        return value

    def is_marketing(self, account: str | None, text: str) -> bool:
        """Was the mention sent to a marketing handle? ``account`` when given, else the text's
        @handles: a marketing handle and not the care handle."""
        marketing = {h.casefold() for h in self.marketing_handles}
        if account:
            return "@" + account.lstrip("@").casefold() in marketing
        tagged = {h.casefold() for h in re.findall(r"@\w+", text)}
        return bool(tagged & marketing) and self.care_handle.casefold() not in tagged


class Channels(BaseModel):
    model_config = ConfigDict(extra="forbid")

    public: list[str] = Field(min_length=2)
    private: list[str] = Field(min_length=2)


class TemplatesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str = Field(min_length=1)
    brand: Brand
    replies: dict[str, dict[str, Channels]]
    handover: dict[str, Channels]


@dataclass(frozen=True)
class Template:
    """One template id (``complaint.nl.private``) and its variants, with and without a name."""

    id: str
    named: tuple[str, ...]
    neutral: tuple[str, ...]


@dataclass(frozen=True)
class ReplyTemplates:
    version: str
    path: Path
    brand: Brand
    languages: tuple[str, ...]
    templates: dict[str, Template]

    @classmethod
    def load(cls, path: Path | None = None) -> ReplyTemplates:
        path = path or DEFAULT_TEMPLATES
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise TemplatesError(f"{path}: cannot read reply templates: {exc}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise TemplatesError(f"{path}: not valid TOML: {exc}") from exc
        try:
            parsed = TemplatesFile.model_validate(raw)
        except ValidationError as exc:
            raise TemplatesError(_report(path, [_pydantic_problem(e) for e in exc.errors()])) from None
        problems, languages = _check_coverage(parsed)
        fill = _longest_values(parsed.brand)
        templates: dict[str, Template] = {}
        for kind, lang, channel, variants in _sections(parsed):
            tid = template_id(kind, lang, channel)
            key = f"{HANDOVER}.{lang}.{channel}" if kind == HANDOVER else f"replies.{tid}"
            for i, text in enumerate(variants, start=1):
                problems += [f"{key}[{i}]: {p}" for p in _check_variant(text, kind, channel, fill)]
            neutral = tuple(_DROP_NAME.sub("", v) for v in variants)
            templates[tid] = Template(tid, tuple(variants), neutral)
        if parsed.brand.default_language not in languages:
            problems.append(f"brand.default_language: no templates for {parsed.brand.default_language!r}")
        if problems:
            raise TemplatesError(_report(path, problems))
        return cls(parsed.version, path, parsed.brand, languages, templates)

    def get(self, kind: str, lang: str, channel: str) -> Template:
        return self.templates[template_id(kind, lang, channel)]

    def fill(self, text: str, first_name: str | None, agent: str) -> str:
        return text.format_map(
            {
                "first_name": first_name or "",
                "agent": agent,
                "dm_link": self.brand.dm_link,
                "brand": self.brand.name,
                "care_handle": self.brand.care_handle,
            }
        )


@cache
def default_templates() -> ReplyTemplates:
    """The shipped templates, for callers (scripts, benchmarks) that pass none."""
    return ReplyTemplates.load()


def template_id(kind: str, lang: str, channel: str) -> str:
    """``complaint.nl.private``; ``kind`` is an intent or ``handover``."""
    return f"{kind}.{lang}.{channel}"


def _sections(parsed: TemplatesFile):
    for intent, by_lang in parsed.replies.items():
        for lang, channels in by_lang.items():
            for channel in CHANNELS:
                yield intent, lang, channel, getattr(channels, channel)
    for lang, channels in parsed.handover.items():
        for channel in CHANNELS:
            yield HANDOVER, lang, channel, getattr(channels, channel)


def _check_coverage(parsed: TemplatesFile) -> tuple[list[str], tuple[str, ...]]:
    """Every intent (from the taxonomy) in every language: the product's four plus any a team adds."""
    problems: list[str] = []
    extra = {lang for by_lang in parsed.replies.values() for lang in by_lang} | set(parsed.handover)
    languages = LANGUAGES + tuple(sorted(extra - set(LANGUAGES)))
    for lang in languages:
        if not re.fullmatch(r"[a-z]{2}", lang):
            problems.append(f"{lang}: not an ISO 639-1 language code")
    for intent in parsed.replies:
        if intent not in INTENT.labels:
            problems.append(f"replies.{intent}: unknown intent (expected {', '.join(INTENT.labels)})")
    for intent in INTENT.labels:
        if intent not in parsed.replies:
            problems.append(f"replies.{intent}: missing (every intent needs templates)")
            continue
        have = parsed.replies[intent]
        problems += [f"replies.{intent}.{lang}: missing language" for lang in languages if lang not in have]
    problems += [f"{HANDOVER}.{lang}: missing language" for lang in languages if lang not in parsed.handover]
    return problems, languages


def _longest_values(brand: Brand) -> dict[str, str]:
    return {
        "first_name": "W" * FIRST_NAME_MAX,
        "agent": "W" * AGENT_MAX,
        "dm_link": brand.dm_link,
        "brand": brand.name,
        "care_handle": brand.care_handle,
    }


def _check_variant(text: str, kind: str, channel: str, fill: dict[str, str]) -> list[str]:
    if not text.strip():
        return ["empty variant"]
    try:
        parts = list(Formatter().parse(text))
    except ValueError as exc:  # e.g. a single "{"; write "{{" for a literal brace
        return [f"{exc} (write {{{{ or }}}} for a literal brace)"]
    problems: list[str] = []
    fields = [name for _, name, _, _ in parts if name is not None]
    allowed = ", ".join(f"{{{p}}}" for p in PLACEHOLDERS)
    for name in sorted(set(fields) - set(PLACEHOLDERS)):
        problems.append(f"unknown placeholder {{{name}}} (allowed: {allowed})")
    if any(spec or conv for _, name, spec, conv in parts if name is not None):
        problems.append("placeholders take no format spec or conversion (write {agent}, not {agent!r})")
    if problems:
        return problems
    if "agent" not in fields:
        problems.append("must sign with {agent}")
    if fields.count("first_name") > 1:
        problems.append("{first_name} may appear once")
    elif "first_name" in fields and "{first_name}" in _DROP_NAME.sub("", text):
        problems.append(
            "{first_name} must follow a word and a space or comma ('Hoi {first_name}, ...'): "
            "without a plausible name it is dropped together with that space or comma"
        )
    if channel == "private" and "dm_link" not in fields:
        problems.append("a private hand-off must contain {dm_link}")
    if kind == HANDOVER and "care_handle" not in fields:
        problems.append("a hand-over must say where to get help: {care_handle}")
    length = len(text.format_map(fill))
    if length > MAX_REPLY_CHARS:
        problems.append(
            f"{length} characters with the longest allowed values (a {FIRST_NAME_MAX}-character "
            f"first name, a {AGENT_MAX}-character agent); the limit is {MAX_REPLY_CHARS}"
        )
    return problems


def _pydantic_problem(error: dict) -> str:
    loc = ".".join(str(p) for p in error["loc"])
    return f"{loc or '(top level)'}: {error['msg']}"


def _report(path: Path, problems: list[str]) -> str:
    return f"{path}: invalid reply templates:\n" + "\n".join(f"  {path}: {p}" for p in problems)
