"""Language identification for short texts (lingua), restricted to the languages
webcare sees so it stays fast and small."""

from __future__ import annotations

from lingua import IsoCode639_1, Language, LanguageDetector, LanguageDetectorBuilder

from model.taxonomy import DETECTED_LANGUAGES

CANDIDATES: tuple[Language, ...] = tuple(
    Language.from_iso_code_639_1(IsoCode639_1.from_str(code)) for code in DETECTED_LANGUAGES
)


class LanguageIdentifier:
    def __init__(self) -> None:
        self._detector: LanguageDetector = (
            LanguageDetectorBuilder.from_languages(*CANDIDATES)
            .with_minimum_relative_distance(0.05)
            .build()
        )

    def detect(self, text: str) -> str | None:
        found = self._detector.detect_language_of(text)
        return found.iso_code_639_1.name.lower() if found is not None else None
