"""The personal-data corpus: formats webcare sees in nl/en/da/fr, every value invented (valid
checksums where the format has one), and near-misses that must stay readable.

docs/personal-data.md reports the figures this file measures.
"""

from __future__ import annotations

import pytest

from model.pii import find_pii, mask

# (text, the personal-data value in it, its kind)
CORPUS: list[tuple[str, str, str]] = [
    # phone numbers: NL, BE, DK, FR national and international formats
    ("bel me op 06-12345678", "06-12345678", "phone"),
    ("mijn nummer: 06 12 34 56 78", "06 12 34 56 78", "phone"),
    ("bereikbaar op (06) 98765426", "(06) 98765426", "phone"),
    ("nummer 06 - 987 654 25 graag terugbellen", "06 - 987 654 25", "phone"),
    ("vast nummer 020-1234567", "020-1234567", "phone"),
    ("bel 010 123 45 67 na vijven", "010 123 45 67", "phone"),
    ("+31 6 12345678 is mijn nummer", "+31 6 12345678", "phone"),
    ("+31612345678 graag bellen", "+31612345678", "phone"),
    ("0031 6 1234 5678 na 17u", "0031 6 1234 5678", "phone"),
    ("gsm 0470 12 34 56", "0470 12 34 56", "phone"),
    ("bel me op 0478/12.34.56", "0478/12.34.56", "phone"),
    ("mijn nummer is +32 470 12 34 56", "+32 470 12 34 56", "phone"),
    ("vast 02 123 45 67 (Brussel)", "02 123 45 67", "phone"),
    ("ring på +45 12 34 56 78", "+45 12 34 56 78", "phone"),
    ("ring mig på 20 12 34 56", "20 12 34 56", "phone"),
    ("mit nummer er 31 23 45 67", "31 23 45 67", "phone"),
    ("appelez-moi au 06 12 34 56 78", "06 12 34 56 78", "phone"),
    ("mon portable : 07.12.34.56.78", "07.12.34.56.78", "phone"),
    ("joignable au +33 6 12 34 56 78", "+33 6 12 34 56 78", "phone"),
    ("fixe 01 23 45 67 89", "01 23 45 67 89", "phone"),
    ("call me on +44 7700 900123", "+44 7700 900123", "phone"),
    ("my cell is +1 415 555 0132", "+1 415 555 0132", "phone"),
    ("reach me at 0612345678 pls", "0612345678", "phone"),
    # e-mail
    ("mail j.devries@voorbeeld.nl", "j.devries@voorbeeld.nl", "email"),
    ("stuur naar sanne+webcare@mail.example.com", "sanne+webcare@mail.example.com", "email"),
    ("email me: Tom_Baker@example.co.uk", "Tom_Baker@example.co.uk", "email"),
    ("skriv til mette.hansen@eksempel.dk", "mette.hansen@eksempel.dk", "email"),
    ("écrivez à marie.dupont@exemple.fr", "marie.dupont@exemple.fr", "email"),
    ("contact: Lars.Jensen@Example.DK", "Lars.Jensen@Example.DK", "email"),
    ("mijn mail is k.jansen1987@hotmail.example", "k.jansen1987@hotmail.example", "email"),
    # IBAN, any case and spacing, valid checksums
    ("stort terug op NL91ABNA0417164300", "NL91ABNA0417164300", "iban"),
    ("rekening nl91abna0417164300 aub", "nl91abna0417164300", "iban"),
    ("IBAN NL91 ABNA 0417 1643 00", "NL91 ABNA 0417 1643 00", "iban"),
    ("IBAN BE68 5390 0754 7034", "BE68 5390 0754 7034", "iban"),
    ("be68539007547034 is mijn rekening", "be68539007547034", "iban"),
    ("konto DK50 0040 0440 1162 43", "DK50 0040 0440 1162 43", "iban"),
    ("mon IBAN FR14 2004 1010 0505 0001 3M02 606", "FR14 2004 1010 0505 0001 3M02 606", "iban"),
    ("refund to GB82 WEST 1234 5698 7654 32", "GB82 WEST 1234 5698 7654 32", "iban"),
    ("iban: DE89370400440532013000", "DE89370400440532013000", "iban"),
    # national identity numbers
    ("BSN 111222333", "111222333", "national_id"),
    ("mijn burgerservicenummer is 123456782", "123456782", "national_id"),
    ("bsn 1112.22.333 staat op de brief", "1112.22.333", "national_id"),
    ("mit CPR er 010190-1234", "010190-1234", "national_id"),
    ("cpr-nummer 2110625629", "2110625629", "national_id"),
    ("mon numéro de sécu 1 84 12 76 451 089 46", "1 84 12 76 451 089 46", "national_id"),
    ("NIR 295109912611193", "295109912611193", "national_id"),
    # payment cards (Luhn)
    ("creditcard 4111 1111 1111 1111", "4111 1111 1111 1111", "card"),
    ("card 5500-0000-0000-0004 was charged twice", "5500-0000-0000-0004", "card"),
    ("kort 4000056655665556 blev trukket", "4000056655665556", "card"),
    ("carte 3400 000000 00009 débitée", "3400 000000 00009", "card"),
    ("visa 4012888888881881 geblokkeerd", "4012888888881881", "card"),
    ("mastercard 5105 1051 0510 5100 gestolen", "5105 1051 0510 5100", "card"),
    # order, booking, account, customer numbers
    ("ordernummer 55512345 nooit ontvangen", "55512345", "account"),
    ("mijn order is 44412345", "44412345", "account"),
    ("bestelnummer 123456789 nooit ontvangen", "123456789", "account"),
    ("bestelling 7720031 is kwijt", "7720031", "account"),
    ("klantnummer: 8812345", "8812345", "account"),
    ("klantnr 1234567 graag terugbellen", "1234567", "account"),
    ("contractnummer NL-2203344", "NL-2203344", "account"),
    ("abonnementsnummer 99887766", "99887766", "account"),
    ("factuur 2026-004512 klopt niet", "2026-004512", "account"),
    ("dossiernummer 55-1234-XY", "55-1234-XY", "account"),
    ("order PK-48213 missing", "PK-48213", "account"),
    ("order #112-3344556-7788990 never arrived", "112-3344556-7788990", "account"),
    ("my order number is 700123456", "700123456", "account"),
    ("booking ref SKH4Q9 please fix", "SKH4Q9", "account"),
    ("booking reference: ABC12D", "ABC12D", "account"),
    ("account number 22334455", "22334455", "account"),
    ("customer id 9988123", "9988123", "account"),
    ("ticket 4455667 still open", "4455667", "account"),
    ("invoice INV-20261134 is wrong", "INV-20261134", "account"),
    ("ordrenummer 5512344 er ikke kommet", "5512344", "account"),
    ("kundenummer 7734521", "7734521", "account"),
    ("min ordre er 88812345", "88812345", "account"),
    ("faktura 2026-7781 er forkert", "2026-7781", "account"),
    ("sagsnummer 55123", "55123", "account"),
    ("ma commande 77812345 n'est pas arrivée", "77812345", "account"),
    ("numéro de commande : 5566778", "5566778", "account"),
    ("numéro client 44556677", "44556677", "account"),
    ("facture n° 2026-00451", "2026-00451", "account"),
    ("réservation XK42P7 annulée", "XK42P7", "account"),
    ("dossier 77-8899 toujours ouvert", "77-8899", "account"),
    ("referentie AB-778812", "AB-778812", "account"),
    ("pakketnummer 3SVONK1234567 kwijt", "3SVONK1234567", "account"),
    ("colis 6A12345678901 perdu", "6A12345678901", "account"),
    ("pakke 00370722334455667788 ikke leveret", "00370722334455667788", "account"),
    ("member number 4433221", "4433221", "account"),
    # postal addresses
    ("ik woon op 1234 AB 12", "1234 AB 12", "address"),
    ("postcode 3511 AB, huisnummer 7", "3511 AB", "address"),
    ("Kerkstraat 12 heeft geen stroom", "Kerkstraat 12", "address"),
    ("storing op de Dorpsweg 4a", "Dorpsweg 4a", "address"),
    ("verhuisd naar Stationsplein 1", "Stationsplein 1", "address"),
    ("Prinsengracht 263 geen internet", "Prinsengracht 263", "address"),
    ("ik woon Brusselsesteenweg 12", "Brusselsesteenweg 12", "address"),
    ("jeg bor på Nørregade 14", "Nørregade 14", "address"),
    ("adresse Østerbrogade 55", "Østerbrogade 55", "address"),
    ("levering til Strandvej 3", "Strandvej 3", "address"),
    ("j'habite 12 rue de la Paix", "12 rue de la Paix", "address"),
    ("livraison au 5, avenue Victor Hugo", "5, avenue Victor Hugo", "address"),
    ("colis laissé 8 boulevard Saint-Michel", "8 boulevard Saint-Michel", "address"),
    ("adresse rue Neuve 23 à Bruxelles", "rue Neuve 23", "address"),
]

NEAR_MISSES: list[str] = [
    "trein 2 minuten te laat",
    "vlucht KL1234 van 14:35 geannuleerd",
    "flight BA 2490 delayed 3 hours",
    "fly SK1427 forsinket",
    "vol AF1234 annulé",
    "al 3 dagen geen internet",
    "50% korting in 2026!",
    "prijs €12,99 per maand",
    "betaald € 1.299,00 voor de telefoon",
    "it costs $1,299.99 now",
    "koster 299 kr. om måneden",
    "prix 49,99 € par mois",
    "op 23-11-2026 om 10.30 uur",
    "since 11/23/2026 no signal",
    "den 23.11.2026 kl. 14.00",
    "le 23/11/2026 à 9h30",
    "iPhone 15 Pro Max 256 GB",
    "Windows 11 update 23H2",
    "versie 4.12.1 van de app",
    "version 8.9.12.544 crashes",
    "200 Mbps instead of 1000",
    "5G in Gent sinds 2021",
    "kanaal 501 werkt niet",
    "tv box model 7520 knippert",
    "bus 12 en tram 4 rijden niet",
    "perron 5b om 17:05",
    "match 2-1 gisteren, top stream",
    "wacht al 45 minuten in de wachtrij",
    "3 keer gebeld, 2 keer doorverbonden",
    "top geholpen, dank!",
    "nummer 1 klantenservice van België",
    "ik betaal 30 euro voor 20 GB",
    "hoofdstuk 3, pagina 112",
    "Rotterdam - Utrecht 08:12 uitgevallen",
    "I've been a customer since 2009",
    "jeg har været kunde i 12 år",
    "client depuis 2015",
]


@pytest.mark.parametrize(("text", "value", "kind"), CORPUS)
def test_every_corpus_value_is_found_and_masked(text: str, value: str, kind: str) -> None:
    masked = mask(text)
    assert value not in masked, masked
    start = text.index(value)
    found = [(k, s, e) for k, s, e in find_pii(text) if s <= start and start + len(value) <= e]
    assert found and found[0][0] == kind, find_pii(text)


@pytest.mark.parametrize("text", NEAR_MISSES)
def test_near_misses_stay_readable(text: str) -> None:
    assert find_pii(text) == [], find_pii(text)


def test_corpus_size_and_languages() -> None:
    assert len(CORPUS) >= 100
    assert len({kind for _, _, kind in CORPUS}) == 7


def test_author_name_and_handle_are_masked_but_particles_are_not() -> None:
    text = "Hoi, ik ben Sanne de Vries (@sannedv), mijn modem doet het niet"
    masked = mask(text, names=["Sanne de Vries", "@sannedv"])
    assert "Sanne" not in masked and "Vries" not in masked and "sannedv" not in masked
    assert " de " in masked and "modem" in masked


def test_training_artefacts_never_see_personal_data() -> None:
    """The seed data's (fake) IBANs and phone numbers do not reach the baseline's vocabulary."""
    from model.dataset import load_dataset
    from model.settings import Settings
    from training.families import BaselineFamily, texts_of

    rows = load_dataset([Settings().seed_dir])
    raw = " ".join(r.text for r in rows).lower()
    assert "nl91abna" in raw.replace(" ", "") or "06 12 34 56 78" in raw  # the seed has some
    assert all("[" not in t or "]" in t for t in texts_of(rows))
    model = BaselineFamily().fit(rows, [])
    vocab = set(model.vectorizers_[0].vocabulary_)
    assert not any("abna" in w or "12345678" in w or "417164300" in w for w in vocab)
    assert any("phone" in w for w in vocab) or any("iban" in w for w in vocab)
