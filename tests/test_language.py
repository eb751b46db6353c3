"""Language identification modes: both find the product's languages; a bad mode is refused."""

from __future__ import annotations

import pytest

from serving.language import LanguageIdentifier

SENTENCES = {
    "nl": "Mijn internet doet het al drie dagen niet, wanneer wordt dit opgelost?",
    "en": "My parcel still has not arrived and nobody answers the phone.",
    "da": "Hvornår kommer min pakke? Jeg har ventet i fem dage nu.",
    "fr": "Bonjour, ma facture est deux fois plus élevée que d'habitude ce mois-ci.",
}


@pytest.mark.parametrize("accuracy", ["low", "high"])
def test_both_modes_find_the_product_languages(accuracy: str) -> None:
    identifier = LanguageIdentifier(accuracy)  # type: ignore[arg-type]
    assert {lang: identifier.detect(text) for lang, text in SENTENCES.items()} == {k: k for k in SENTENCES}


def test_an_unknown_mode_is_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="low or high"):
        LanguageIdentifier("medium")  # type: ignore[arg-type]
