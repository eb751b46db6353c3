import pytest

from model.pii import mask, pii_kinds


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("bel me op 06-12345678", "phone"),
        ("mijn nummer is +31 6 12345678", "phone"),
        ("ring på +45 12 34 56 78", "phone"),
        ("ring 12 34 56 78", "phone"),
        ("appelez-moi au 06 12 34 56 78", "phone"),
        ("bel 0470 12 34 56", "phone"),
        ("call +44 7700 900123", "phone"),
        ("mail j.devries@voorbeeld.nl", "email"),
        ("stort terug op NL91ABNA0417164300", "iban"),
        ("IBAN BE68 5390 0754 7034", "iban"),
        ("bestelnummer 123456789 nooit ontvangen", "account"),
        ("order PK-48213 missing", "account"),
        ("booking ref SKH4Q9", "account"),
        ("ik woon op 1234 AB 12", "address"),
        ("Kerkstraat 12 heeft geen stroom", "address"),
    ],
)
def test_detects_and_masks(text: str, kind: str) -> None:
    assert kind in pii_kinds(text)
    assert f"[{kind.upper()}]" in mask(text)


@pytest.mark.parametrize(
    "text",
    [
        "trein 2 minuten te laat",
        "vlucht van 14:35 geannuleerd",
        "al 3 dagen geen internet",
        "50% korting in 2026!",
        "top geholpen, dank!",
    ],
)
def test_no_false_alarm_on_ordinary_text(text: str) -> None:
    assert pii_kinds(text) == []


def test_handles_are_masked() -> None:
    assert mask("@jansen zegt dat") == "@[USER] zegt dat"
