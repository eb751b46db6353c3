"""Text keys for duplicate detection and handle masking for public data.

The same mention arrives with different casing, spacing or Unicode forms
(retweets, copies, exports); ``text_hash`` treats those as one mention so a
re-import never creates a second task and an export id never changes.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Collection

_URL = re.compile(r"https?://\S+|www\.\S+", re.IGNORECASE)
_HANDLE = re.compile(r"(?<![\w@])@(\w{1,30})")
_SPACE = re.compile(r"\s+")
_DIGITS = re.compile(r"\d+")


def normalise(text: str) -> str:
    """NFKC, case-folded, URLs replaced, whitespace collapsed: the duplicate key's input."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _URL.sub("<url>", text)
    return _SPACE.sub(" ", text).strip()


def text_hash(text: str) -> str:
    """A stable 16-hex key of the normalised text (64 bits: collisions are negligible here)."""
    return hashlib.sha256(normalise(text).encode("utf-8")).hexdigest()[:16]


def shingle_text(text: str) -> str:
    """A looser form for near-duplicate detection: handles and numbers no longer matter."""
    text = _HANDLE.sub("@", normalise(text))
    return _DIGITS.sub("0", text)


def mask_handles(text: str, keep: Collection[str]) -> str:
    """Replace every @handle except the (brand) handles in ``keep`` by ``@user``.

    Public datasets carry real user names; the brand's own account is kept
    because who a mention is addressed to matters for triage.
    """
    kept = {k.casefold() for k in keep}
    return _HANDLE.sub(lambda m: m.group(0) if m.group(1).casefold() in kept else "@user", text)
