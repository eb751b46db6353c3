"""Personal data in mention text: detection (for DM routing) and masking (for stores, logs
and training artefacts).

Maintained libraries do the parts that have a standard: ``phonenumbers`` (Google's
libphonenumber: its matcher, for NL, BE, DK and FR numbers and every ``+`` international
one), ``schwifty`` (IBAN in any case and spacing, with its checksum) and
``python-stdnum`` (Dutch BSN, Danish CPR, French NIR, card numbers by Luhn). The
project's own patterns cover what has no standard: order, booking, account and
customer numbers in nl/en/da/fr, e-mail, postcode + house number, street addresses,
and the author's own name and handle where they appear in the text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence

import phonenumbers
from schwifty import IBAN
from schwifty.exceptions import SchwiftyException
from stdnum import luhn
from stdnum.dk import cpr
from stdnum.fr import nir
from stdnum.nl import bsn

PHONE_REGIONS: tuple[str, ...] = ("NL", "BE", "DK", "FR")
Span = tuple[str, int, int]

_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}\b", re.I)
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]){11,30}\b", re.I)
_CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
_BSN = re.compile(r"(?<![\d.,-])\d{4}\.?\d{2}\.?\d{3}(?![\d.,-])|(?<![\d.,-])\d{9}(?![\d.,-])")
_CPR = re.compile(r"(?<![\d-])\d{6}-?\d{4}(?![\d-])")
_NIR = re.compile(
    r"(?<![\d])[12][ ]?\d{2}[ ]?\d{2}[ ]?(?:\d{2}|2[AB])[ ]?\d{3}[ ]?\d{3}[ ]?\d{2}(?!\d)", re.I
)
_ACCOUNT_WORD = (
    r"(?:order|bestel(?:ling)?|booking|boeking|reserv(?:ering|ation|ation)|réservation|klant|kunde"
    r"|customer|client|account|rekening|contract|kontrakt|abonnement|abonnee|ordre|commande|dossier"
    r"|sag|case|ticket|factuur|faktura|facture|invoice|referentie|reference|référence|ref|member"
    r"|lid|medlem|adhérent|pakke|parcel|pakket|colis|zending|forsendelse)"
)
_ACCOUNT = re.compile(
    rf"(?i)\b{_ACCOUNT_WORD}(?:s?nummer|s?nr|number|nummer|no|num|numéro|n°|id|code)?\b"
    r"(?:[\s#:.°=]+(?:is|er|est|de|du|van|my|mijn|min|mon|ma|mit|nummer|number|nr|no|numéro|id|code)\b"
    r"|\s*n°)*"
    r"[\s#:.°=]*(?=[A-Z0-9-]*\d)([A-Z0-9][A-Z0-9-]{4,})\b"
    r"|\b[A-Z]{2,4}-\d{4,}\b"
)
_ADDRESS = re.compile(
    r"\b[1-9]\d{3} ?[A-Z]{2}\b(?:[ ,]+\d{1,4}[a-zA-Z]?\b)?"  # NL postcode (+ house number)
    r"|\b[A-ZÀ-Ýa-zà-ýæøå]+(?:straat|laan|weg|plein|gracht|kade|singel|dijk|vej|gade|allé|steenweg)"
    r" \d{1,4}[a-zA-Z]?\b"
    r"|\b\d{1,4},? (?:rue|avenue|boulevard|chemin|place) [\w' -]{2,30}"
    r"|\b(?:rue|avenue|boulevard) [\w' -]{2,30} \d{1,4}\b"
)
_DATE_OR_TIME = re.compile(r"^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}$|^\d{1,2}[:.]\d{2}$")
_NAME_PARTICLES = frozenset(
    {"de", "van", "der", "den", "het", "ter", "te", "la", "le", "les", "du", "des", "di", "da", "von", "af"}
)
_HANDLE = re.compile(r"(?<![\w@])@\w{2,}")
_DIGITS = re.compile(r"\D")


def _emails(text: str) -> Iterator[tuple[int, int]]:
    for m in _EMAIL.finditer(text):
        yield m.span()


def _ibans(text: str) -> Iterator[tuple[int, int]]:
    """IBAN candidates kept only when schwifty accepts country, length and checksum."""
    for m in _IBAN.finditer(text):
        raw = m.group(0)
        for end in range(len(raw), 14, -1):  # the pattern may have run into a following word
            try:
                IBAN(raw[:end].replace(" ", "").upper())
            except SchwiftyException:
                continue
            yield m.start(), m.start() + len(raw[:end].rstrip())
            break


def _checked(pattern: re.Pattern[str], valid: Callable[[str], bool]) -> Callable[[str], Iterator]:
    def find(text: str) -> Iterator[tuple[int, int]]:
        for m in pattern.finditer(text):
            if valid(m.group(0)):
                yield m.span()

    return find


def _card_ok(raw: str) -> bool:
    digits = _DIGITS.sub("", raw)
    return 13 <= len(digits) <= 19 and luhn.is_valid(digits) and len(set(digits)) > 1


def _id_ok(module: object) -> Callable[[str], bool]:
    def ok(raw: str) -> bool:
        compact = raw.replace(" ", "").replace(".", "").replace("-", "")
        return len(set(compact)) > 2 and module.is_valid(compact)  # type: ignore[attr-defined]

    return ok


def _phones(text: str) -> Iterator[tuple[int, int]]:
    """libphonenumber's matcher per region; dates and times it would accept are skipped."""
    seen: set[tuple[int, int]] = set()
    for region in PHONE_REGIONS:
        for m in phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.POSSIBLE):
            if _DATE_OR_TIME.match(m.raw_string.strip()) or (m.start, m.end) in seen:
                continue
            digits = _DIGITS.sub("", m.raw_string)
            national = m.raw_string.lstrip("( ").startswith(("0", "+")) or len(digits) == 8
            if national and len(digits) >= 8:
                seen.add((m.start, m.end))
                yield m.start, m.end


def _accounts(text: str) -> Iterator[tuple[int, int]]:
    for m in _ACCOUNT.finditer(text):
        yield m.span(1) if m.group(1) else m.span()


def _addresses(text: str) -> Iterator[tuple[int, int]]:
    for m in _ADDRESS.finditer(text):
        yield m.span()


DETECTORS: tuple[tuple[str, Callable[[str], Iterator[tuple[int, int]]]], ...] = (
    ("email", _emails),
    ("iban", _ibans),
    ("account", _accounts),
    ("card", _checked(_CARD, _card_ok)),
    ("national_id", _checked(_NIR, _id_ok(nir))),
    ("national_id", _checked(_CPR, _id_ok(cpr))),
    ("national_id", _checked(_BSN, _id_ok(bsn))),
    ("phone", _phones),
    ("address", _addresses),
)
"""In priority order: where two detectors overlap, the earlier one wins."""
KINDS: tuple[str, ...] = tuple(dict.fromkeys(kind for kind, _ in DETECTORS)) + ("name",)


def _names(text: str, names: Sequence[str | None]) -> Iterator[tuple[int, int]]:
    """The author's own name parts and handle, as whole words (case-insensitive)."""
    words = {w for n in names if n for w in re.split(r"[\s@]+", n)
             if len(w) >= 2 and w.casefold() not in _NAME_PARTICLES}  # fmt: skip
    for word in sorted(words, key=len, reverse=True):
        for m in re.finditer(rf"(?<![\w@]){re.escape(word)}(?!\w)", text, re.I):
            yield m.span()


def find_pii(text: str, *, names: Sequence[str | None] = ()) -> list[Span]:
    """(kind, start, end) for every personal-data span, non-overlapping, in order.

    ``names``: the author's name and handle from the request, masked where the text repeats them.
    """
    spans: list[Span] = []
    detectors = [*DETECTORS, ("name", lambda t: _names(t, names))] if names else list(DETECTORS)
    for kind, detect in detectors:
        for start, end in detect(text):
            if not any(s < end and start < e for _, s, e in spans):
                spans.append((kind, start, end))
    return sorted(spans, key=lambda s: s[1])


def pii_kinds(text: str) -> list[str]:
    return sorted({kind for kind, _, _ in find_pii(text)})


def mask(text: str, *, names: Sequence[str | None] = (), handles: bool = True) -> str:
    """Replace personal data (and, unless ``handles=False``, every @handle) by placeholders
    such as ``[PHONE]``. Model inputs keep handles: who a mention is addressed to is signal."""
    out, last = [], 0
    for kind, start, end in find_pii(text, names=names):
        out.append(text[last:start])
        out.append(f"[{kind.upper()}]")
        last = end
    out.append(text[last:])
    masked = "".join(out)
    return _HANDLE.sub("@[USER]", masked) if handles else masked
