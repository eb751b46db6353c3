"""Suggested first replies: the template picked by intent, language and routing, personalised.

Webcare practice: greet by first name, sign with the agent's own name, keep a
private case to a short public acknowledgement plus a DM link, and never let
a queue show one canned text a hundred times. Shared by the API and
`webcare reply`, so both give the same suggestion.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field

from model.pii import find_pii
from serving.reply_templates import FIRST_NAME_MAX, HANDOVER, MAX_REPLY_CHARS, ReplyTemplates

_NAME = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")
_EDGE = re.compile(r"^[\W_]+|[\W_]+$")
# first tokens that are a title, an article or an organisation word, not a first name
_NOT_A_NAME = frozenset({
    "mr", "mrs", "ms", "miss", "mx", "sir", "dr", "prof", "dhr", "mevr", "mw", "meneer", "mevrouw", "ir",
    "drs", "ing", "m", "mme", "mlle", "monsieur", "madame", "hr", "fru", "frk", "the", "de", "het", "een",
    "le", "la", "les", "team", "official", "info", "klantenservice", "support", "service",
})  # fmt: skip


@dataclass
class Suggestion:
    text: str
    template_id: str
    variant: int
    language: str
    channel: str
    reasons: list[str] = field(default_factory=list)


def first_name(name: str | None) -> tuple[str | None, str]:
    """The first name to greet with (first token, cleaned), or None and why not."""
    if not name or not name.strip():
        return None, "neutral greeting: no author name"
    # skip decoration such as a leading emoji: the first token with a letter, digit or @
    words = unicodedata.normalize("NFC", name).split()
    tokens = [t for t in words if any(c.isalnum() or c == "@" for c in t)]
    if not tokens:
        return None, "neutral greeting: author name has no letters"
    token = tokens[0]
    if token.startswith("@"):
        return None, "neutral greeting: author name is a handle"
    if "@" in token:
        return None, "neutral greeting: author name is an e-mail address"
    if any(c.isdigit() for c in token):
        return None, "neutral greeting: author name contains digits"
    token = _EDGE.sub("", token)  # emoji and punctuation around the name
    if not _NAME.fullmatch(token) or not 2 <= len(token) <= FIRST_NAME_MAX:
        return None, "neutral greeting: author name is not a plausible first name"
    if token.casefold().rstrip(".") in _NOT_A_NAME:
        return None, "neutral greeting: author name starts with a title or word, not a first name"
    if token.islower() or token.isupper():
        token = "-".join(part.capitalize() for part in token.split("-"))
    return token, "greets by first name (from author.name)"


def pick_variant(mention_id: str, template: str, n: int) -> int:
    """A stable 0-based variant: the same mention always gets the same text, a queue a mix
    (Python's hash() is salted per process, so it would differ between workers)."""
    digest = hashlib.blake2b(f"{template}\x00{mention_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % n


def reply_language(templates: ReplyTemplates, lang: str | None, detected: bool) -> tuple[str, str]:
    default = templates.brand.default_language
    if lang in templates.languages:
        return lang, f"language {lang} ({'detected' if detected else 'given'})"
    if lang is None:
        return default, f"language not recognised: brand default {default}"
    return default, f"no templates for language {lang!r}: brand default {default}"


def suggest(
    templates: ReplyTemplates,
    *,
    mention_id: str,
    text: str,
    intent: str,
    channel: str,
    lang: str | None,
    lang_detected: bool = False,
    author_name: str | None = None,
    agent: str | None = None,
    handover: bool = False,
    personal_data: list[str] | None = None,
) -> Suggestion:
    """The suggested first reply for a mention that needs one."""
    language, lang_reason = reply_language(templates, lang, lang_detected)
    kind = HANDOVER if handover else intent
    template = templates.get(kind, language, channel)
    i = pick_variant(mention_id, template.id, len(template.named))
    name, name_reason = first_name(author_name)
    signature = (agent or "").strip()
    agent_reason = "signed by the agent from the request"
    if not signature:
        signature = templates.brand.agent
        agent_reason = f"signed with the brand default ({signature})"
    reply = templates.fill((template.named if name else template.neutral)[i], name, signature)
    if len(reply) > MAX_REPLY_CHARS:  # only a caller that skips the request limits gets here
        signature, agent_reason = templates.brand.agent, "signed with the brand default: agent name too long"
        reply = templates.fill((template.named if name else template.neutral)[i], name, signature)
    if personal_data and _repeats_personal_data(reply, text):
        # only the name or signature can carry text from the mention: drop both
        name, signature = None, templates.brand.agent
        name_reason = "neutral greeting and brand signature: they matched personal data in the text"
        agent_reason = f"signed with the brand default ({signature})"
        reply = templates.fill(template.neutral[i], None, signature)
    if handover:
        why = f"care question on the marketing account: points the customer to {templates.brand.care_handle}"
    elif channel == "private":
        why = "routed private: short public acknowledgement with the DM hand-off"
    else:
        why = "public reply: the whole first answer"
    reasons = [f"{why} ({template.id})", lang_reason, name_reason, agent_reason]
    if personal_data:
        reasons.append(f"personal data in the text ({', '.join(personal_data)}) is not repeated")
    reasons.append(f"variant {i + 1} of {len(template.named)}, fixed by the mention id")
    return Suggestion(reply, template.id, i + 1, language, channel, reasons)


def no_reply_reason(p_reply: float, threshold: float) -> str:
    return f"no reply needed (p={p_reply:.2f} < {threshold:.2f}): no suggestion"


def _repeats_personal_data(reply: str, text: str) -> bool:
    folded = reply.casefold()
    return any(text[start:end].casefold() in folded for _, start, end in find_pii(text))
