"""Language of mentions whose source does not say (the dataset schema requires one), and
whether a mention is outside the product's languages at all."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from model.taxonomy import LANGUAGES

FALLBACK = "en"


@lru_cache(maxsize=1)
def _detector() -> Any:
    from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

    langs = [
        Language.from_iso_code_639_1(getattr(IsoCode639_1, code.upper())) for code in LANGUAGES
    ]
    return LanguageDetectorBuilder.from_languages(*langs).with_low_accuracy_mode().build()


def detect(texts: Sequence[str]) -> list[str]:
    """ISO 639-1 codes among the product's languages; FALLBACK when undecidable."""
    if not texts:
        return []
    found = _detector().detect_languages_in_parallel_of(list(texts))
    return [lang.iso_code_639_1.name.lower() if lang else FALLBACK for lang in found]


OTHER_LANGUAGES: tuple[str, ...] = ("es", "de", "it", "pt", "sv", "nb", "pl", "tr", "id")
"""Languages a mention may really be in when it is not in a product language."""
OUTSIDE_CONFIDENCE = 0.9
_NOISE = re.compile(r"@\w+|#\w+|https?://\S+|www\.\S+")


@lru_cache(maxsize=2)
def _wide_detector(accurate: bool) -> Any:
    from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

    codes = (*LANGUAGES, *OTHER_LANGUAGES)
    langs = [Language.from_iso_code_639_1(getattr(IsoCode639_1, c.upper())) for c in codes]
    builder = LanguageDetectorBuilder.from_languages(*langs)
    return (builder if accurate else builder.with_low_accuracy_mode()).build()


def _outside(detector: Any, text: str) -> str | None:
    best = detector.compute_language_confidence_values(text)[:1]
    if best and best[0].value >= OUTSIDE_CONFIDENCE:
        code = best[0].language.iso_code_639_1.name.lower()
        return code if code not in LANGUAGES else None
    return None


def outside_languages(texts: Sequence[str]) -> list[str | None]:
    """Per text, the non-product language it is clearly in (ISO 639-1), else None.

    Only a confident call on three or more words (handles, hashtags and links
    removed) counts, and the fast model's candidates are confirmed by the accurate
    one: on Orange Belgium's 9,400 Dutch/French/English tweets the fast model alone
    called 11 of them Swedish or German, the confirmed call none.
    """
    cleaned = [_NOISE.sub(" ", t) for t in texts]
    out: list[str | None] = [None] * len(texts)
    for i, text in enumerate(cleaned):
        if len(re.findall(r"[^\W\d_]{2,}", text)) >= 3 and _outside(_wide_detector(False), text):
            out[i] = _outside(_wide_detector(True), text)
    return out
