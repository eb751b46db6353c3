"""Language of mentions whose source does not say (the dataset schema requires one)."""

from __future__ import annotations

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
