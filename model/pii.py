"""Personal data in mention text: detection (for DM routing) and masking (for logs and stores).

Patterns cover what webcare sees in the Netherlands, Belgium, Denmark and
France: e-mail, phone numbers (national and international formats), IBAN,
order/booking/account numbers and postcode + house number.
"""

from __future__ import annotations

import re

_SEP = r"[\s./-]?"
PATTERNS: dict[str, re.Pattern[str]] = {
    "email": re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}\b", re.I),
    "iban": re.compile(r"\b[A-Z]{2}\d{2}[ ]?(?:[A-Z0-9]{4}[ ]?){2,7}[A-Z0-9]{1,4}\b"),
    "phone": re.compile(
        "|".join(
            [
                rf"(?<![\w+])\+\d{{2,3}}{_SEP}\(?0?\)?(?:{_SEP}\d){{8,11}}\b",  # international
                rf"(?<![\w+])00\d{{2}}(?:{_SEP}\d){{8,11}}\b",
                rf"\b0[1-9](?:{_SEP}\d){{8}}\b",  # NL / FR / BE national, 10 digits
                rf"\b0[1-9]\d?{_SEP}\d{{6,7}}\b",
                r"\b\d{2} \d{2} \d{2} \d{2}\b",  # DK 8 digits in pairs
                r"\b0[1-9]\d{2}(?:[ ./]\d{2}){3}\b",  # BE mobile 0470 12 34 56
            ]
        )
    ),
    "account": re.compile(
        r"(?i)\b(?:order|bestel(?:ling|nummer)?|booking|boeking|reserv\w*|klant(?:nummer|nr)?"
        r"|account|rekening|contract|ordre|kunde(?:nummer|nr)?|commande|dossier|ref(?:erence|erentie)?"
        r"|case|ticket|factuur|faktura|facture|invoice)\b[\s#:.nrumbeo]{0,12}"
        r"(?=[A-Z0-9-]*\d)[A-Z0-9][A-Z0-9-]{4,}\b"
        r"|\b[A-Z]{2,4}-\d{4,}\b"
    ),
    "address": re.compile(
        r"\b[1-9]\d{3} ?[A-Z]{2}\b(?:[ ,]+\d{1,4}[a-zA-Z]?\b)?"  # NL postcode
        r"|\b[A-ZÀ-Ýa-zà-ýæøå]+(?:straat|laan|weg|plein|gracht|kade|singel|dijk|vej|gade|allé)"
        r" \d{1,4}[a-zA-Z]?\b"
        r"|\b\d{1,4},? (?:rue|avenue|boulevard|chemin) [\w' -]{2,30}"
        r"|\b(?:rue|avenue) [\w' -]{2,30} \d{1,4}\b"
    ),
}


def find_pii(text: str) -> list[tuple[str, int, int]]:
    """(kind, start, end) for every personal-data span, non-overlapping, in order."""
    spans: list[tuple[str, int, int]] = []
    for kind, pattern in PATTERNS.items():
        for m in pattern.finditer(text):
            if any(s < m.end() and m.start() < e for _, s, e in spans):
                continue
            spans.append((kind, m.start(), m.end()))
    return sorted(spans, key=lambda s: s[1])


def pii_kinds(text: str) -> list[str]:
    return sorted({kind for kind, _, _ in find_pii(text)})


_HANDLE = re.compile(r"@\w{2,}")


def mask(text: str) -> str:
    """Replace personal data (and @handles) by placeholders such as ``[PHONE]``."""
    out, last = [], 0
    for kind, start, end in find_pii(text):
        out.append(text[last:start])
        out.append(f"[{kind.upper()}]")
        last = end
    out.append(text[last:])
    return _HANDLE.sub("@[USER]", "".join(out))
