"""The start of a CSV file read for mapping: encoding, delimiter, columns, suggested fields."""

from __future__ import annotations

import codecs

import pytest

from crm_candidates.domain.csv_import import CsvFormatError, preview_csv, suggest_field

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("column", "field"),
    [
        ("First name", "first_name"),
        ("Vorname", "first_name"),
        ("Prénom", "first_name"),
        ("NACHNAME", "last_name"),
        ("E-Mail", "emails"),
        ("Work e-mail", "emails"),
        ("Courriel", "emails"),
        ("E-post", "emails"),
        ("E-postadress", "emails"),
        ("Sähköposti", "emails"),
        ("Företag", "current_company"),
        ("Befattning", "current_title"),
        ("Mobiltelefon", "phones"),
        ("Etunimi", "first_name"),
        ("Sukunimi", "last_name"),
        ("Sähköpostiosoite", "emails"),
        ("Yritys", "current_company"),
        ("Tehtävänimike", "current_title"),
        ("Matkapuhelin", "phones"),
        ("Kaupunki", "location"),
        ("Etternavn", "last_name"),
        ("E-mailadres", "emails"),
        ("Téléphone", "phones"),
        ("Job title", "current_title"),
        ("Unternehmen", "current_company"),
        ("LinkedIn", "profile_urls"),
        ("marketing_consent", "marketing_consent"),
        # German, French, Spanish, Portuguese and Polish headers the try-out found unmapped.
        ("Standort", "location"),
        ("Ort", "location"),
        ("Lieu", "location"),
        ("Localisation", "location"),
        ("Ubicación", "location"),
        ("Localidad", "location"),
        ("Cidade", "location"),
        ("Localização", "location"),
        ("Miejscowość", "location"),
        ("Miasto", "location"),
        ("Imię", "first_name"),
        ("Primeiro nome", "first_name"),
        ("Nazwisko", "last_name"),
        ("Sobrenome", "last_name"),
        ("Nom de famille", "last_name"),
        ("Familienname", "last_name"),
        ("Adres e-mail", "emails"),
        ("Correio eletrônico", "emails"),
        ("E-Mail-Adresse", "emails"),
        ("Telefone", "phones"),
        ("Celular", "phones"),
        ("Móvil", "phones"),
        ("Telefon komórkowy", "phones"),
        ("Numer telefonu", "phones"),
        ("Handynummer", "phones"),
        ("Stanowisko", "current_title"),
        ("Puesto", "current_title"),
        ("Intitulé du poste", "current_title"),
        ("Função", "current_title"),
        ("Jobtitel", "current_title"),
        ("Employeur", "current_company"),
        ("Compañía", "current_company"),
        ("Empregador", "current_company"),
        ("Pracodawca", "current_company"),
        ("Nazwa firmy", "current_company"),
        ("Lieblingsfarbe", None),
        ("", None),
    ],
)
def test_a_column_name_suggests_the_field_people_mean(column: str, field: str | None) -> None:
    assert suggest_field(column) == field


def test_a_semicolon_excel_export_with_bom_reads_with_accents_and_suggestions() -> None:
    data = (
        codecs.BOM_UTF8
        + (
            "Vorname;Nachname;E-Mail;Firma;Lieblingsfarbe\r\n"
            "Jürgen;Groß;juergen@example.de;Straße AG;blau\r\n"
            "Zoë;;zoe@example.org;;\r\n"
        ).encode()
    )
    preview = preview_csv(data, complete=True)
    assert (preview.encoding, preview.delimiter) == ("utf-8", ";")
    assert [(c.name, c.suggested_field) for c in preview.columns] == [
        ("Vorname", "first_name"),
        ("Nachname", "last_name"),
        ("E-Mail", "emails"),
        ("Firma", "current_company"),
        ("Lieblingsfarbe", None),
    ]
    assert preview.columns[0].samples == ["Jürgen", "Zoë"]
    # An empty cell gives no sample.
    assert preview.columns[1].samples == ["Groß"]
    assert preview.missing_required == []


def test_windows_1252_is_detected_and_a_single_field_is_suggested_once() -> None:
    data = "Name,Surname,Email,Mail,First name\nRené,Müller,a@x.org,b@x.org,R\n".encode("cp1252")
    preview = preview_csv(data, complete=True)
    assert preview.encoding == "windows-1252"
    assert [c.suggested_field for c in preview.columns] == [
        None,
        "last_name",
        "emails",
        "emails",  # a list field takes several columns
        "first_name",
    ]
    assert preview.columns[1].samples == ["Müller"]


def test_the_start_of_a_larger_file_leaves_out_the_cut_row_and_character() -> None:
    whole = "First,Last,Email\nAnna,Åberg,anna@x.org\nBo,Öst,bo@x.org\n".encode()
    cut = whole[: whole.index("Öst".encode()) + 1]  # half of the Ö
    preview = preview_csv(cut, complete=False)
    assert preview.columns[1].samples == ["Åberg"]
    assert preview.missing_required == []


def test_a_header_without_required_columns_says_which_are_missing() -> None:
    preview = preview_csv(b"Email\tCity\nx@y.org\tOslo\n", complete=True)
    assert preview.delimiter == "\t"
    assert preview.missing_required == ["first_name", "last_name"]


@pytest.mark.parametrize("data", [b"", b"\r\n\r\n", b"First,Last," + b"x" * 100, b"\xff\xfeF\x00F"])
def test_what_is_no_csv_header_is_refused_with_a_reason(data: bytes) -> None:
    with pytest.raises(CsvFormatError):
        preview_csv(data, complete=data != b"First,Last," + b"x" * 100)


def test_a_whole_name_column_is_suggested_split_or_as_the_last_name_beside_a_first() -> None:
    alone = preview_csv(b"Name,E-mail\r\nAna Garcia,ana@example.es\r\n", complete=True)
    assert [c.suggested_field for c in alone.columns] == ["full_name", "emails"]
    assert alone.missing_required == []
    # A German export's `Name` beside `Vorname` is the surname.
    german = preview_csv(b"Vorname;Name;E-Mail\r\nJ;G;j@x.de\r\n", complete=True)
    assert [c.suggested_field for c in german.columns] == ["first_name", "last_name", "emails"]
    both = preview_csv(b"First,Last,Full name,Email\r\nA,B,A B,a@x.org\r\n", complete=True)
    assert [c.suggested_field for c in both.columns] == [
        "first_name",
        "last_name",
        None,
        "emails",
    ]


def test_a_column_named_as_a_custom_field_suggests_it() -> None:
    custom = {
        "available_from": "custom_fields.available_from",
        "Date de disponibilité": "custom_fields.available_from",
        "notice": "custom_fields.notice",
    }
    data = "Prénom;Nom;Courriel;DATE DE DISPONIBILITÉ;Notice\r\nZoë;Ø;z@x.fr;1.1.2027;3\r\n"
    preview = preview_csv(data.encode(), complete=True, custom_fields=custom)
    assert [c.suggested_field for c in preview.columns] == [
        "first_name",
        "last_name",
        "emails",
        "custom_fields.available_from",
        "custom_fields.notice",
    ]
