"""Central European Windows files, spreadsheets and binary files picked instead of a CSV."""

from __future__ import annotations

import io
import zipfile
from collections.abc import AsyncIterator

import pytest

from crm_candidates.domain.csv_import import (
    CsvFormatError,
    CsvStream,
    detect_encoding,
    encoding_name,
    preview_csv,
    sniff_encoding,
)
from crm_candidates.domain.file_sniffing import not_csv_reason

pytestmark = pytest.mark.unit

# Excel "CSV" rows as people in each country type them.
POLISH = (
    "Imię;Nazwisko;E-mail;Miejscowość\r\n"
    "Łukasz;Żółkiewski;lukasz@example.pl;Łódź\r\n"
    "Agnieszka;Wałęsa;aga@example.pl;Gdańsk\r\n"
    "Zofia;Kraśnicka;zofia@example.pl;Kraków\r\n"
)
CZECH = (
    "Jméno;Příjmení;E-mail;Město\r\n"
    "Jiří;Dvořák;jiri@example.cz;Plzeň\r\n"
    "Tomáš;Černý;tomas@example.cz;České Budějovice\r\n"
    "Zdeněk;Procházka;zdenek@example.cz;Brno\r\n"
)
GERMAN = (
    "Vorname;Nachname;E-Mail;Standort\r\n"
    "Jürgen;Groß;juergen@example.de;Köln\r\n"
    "Änne;Müller-Lüdenscheidt;aenne@example.de;Düsseldorf\r\n"
)
FRENCH = (
    "Prénom;Nom;Courriel;Ville\r\n"
    "Hélène;Lefèvre;helene@example.fr;Besançon\r\n"
    "François;Noël;francois@example.fr;Orléans\r\n"
    "Thérèse;Cœur;therese@example.fr;Saint-Étienne\r\n"
    "Gaëlle;Benoît;gaelle@example.fr;Nîmes\r\n"
)
HUNGARIAN = (
    "Vezetéknév;Keresztnév;E-mail;Város\r\n"
    "Erdős;Győző;gyozo@example.hu;Győr\r\n"
    "Kovács;Gábor;gabor@example.hu;Szeged\r\n"
    "Szűcs;Lőrinc;lorinc@example.hu;Pécs\r\n"
    "Török;Zsófia;zsofia@example.hu;Gödöllő\r\n"
)
SLOVAK = (
    "Meno;Priezvisko;E-mail;Mesto\r\n"
    "Ľubomír;Šťastný;lubo@example.sk;Košice\r\n"
    "Ľudmila;Kráľová;luda@example.sk;Žilina\r\n"
)
PORTUGUESE = (
    "Nome;Apelido;E-mail;Cidade\r\n"
    "João;Gonçalves;joao@example.pt;Lisboa\r\n"
    "Conceição;Simões;sao@example.pt;Guimarães\r\n"
    "Inês;Magalhães;ines@example.pt;Évora\r\n"
)
SPANISH = (
    "Nombre;Apellidos;E-mail;Ciudad\r\n"
    "José;Peña Núñez;jose@example.es;Cádiz\r\n"
    "María;Ibáñez;maria@example.es;Málaga\r\n"
    "Ángel;Muñoz;angel@example.es;León\r\n"
)
# An agency's list of people from all over Western Europe.
WESTERN_MIX = (
    "First;Last;E-mail;City\r\n"
    "Jürgen;Groß;j@example.de;Köln\r\n"
    "Hélène;Lefèvre;h@example.fr;Besançon\r\n"
    "José;Peña Núñez;jo@example.es;Cádiz\r\n"
    "João;Gonçalves;ja@example.pt;Lisboa\r\n"
    "Søren;Kierkegaard;s@example.dk;Århus\r\n"
    "Åsa;Häggström;a@example.se;Malmö\r\n"
)
SPANISH_PORTUGUESE_DANISH = (
    "Nombre;Apellidos;Correo\r\n"
    "José;Peña Núñez;jose@example.es\r\n"
    "João;Gonçalves;joao@example.pt\r\n"
    "Søren;Kierkegaard;soren@example.dk\r\n"
)


@pytest.mark.parametrize(
    ("text", "codec", "detected"),
    [
        (POLISH, "cp1250", "windows-1250"),
        (CZECH, "cp1250", "windows-1250"),
        (GERMAN, "cp1252", "windows-1252"),
        (FRENCH, "cp1252", "windows-1252"),
        (SPANISH_PORTUGUESE_DANISH, "cp1252", "windows-1252"),
        # ő and ű are õ and û in Windows-1252: Portuguese and French letters each, but no
        # language has both, nor õ with ö.
        (HUNGARIAN, "cp1250", "windows-1250"),
        (SLOVAK, "cp1250", "windows-1250"),
        (PORTUGUESE, "cp1252", "windows-1252"),
        (SPANISH, "cp1252", "windows-1252"),
        (WESTERN_MIX, "cp1252", "windows-1252"),
        # ISO-8859-2 puts ą ś ź š ť ž where Windows-1250 has other signs and letters.
        (POLISH, "iso8859-2", "iso-8859-2"),
        (CZECH, "iso8859-2", "iso-8859-2"),
        (SLOVAK, "iso8859-2", "iso-8859-2"),
        # Hungarian's letters are the same bytes in both: read alike, the first is named.
        (HUNGARIAN, "iso8859-2", "windows-1250"),
        (HUNGARIAN, "utf-8", "utf-8"),
        (POLISH, "utf-8", "utf-8"),
        (CZECH, "utf-8", "utf-8"),
        (GERMAN, "utf-8", "utf-8"),
        (FRENCH, "utf-8", "utf-8"),
    ],
)
def test_each_language_reads_as_saved_and_the_preview_names_the_encoding(
    text: str, codec: str, detected: str
) -> None:
    data = text.encode(codec)
    assert detect_encoding(data, complete=True) == detected
    preview = preview_csv(data, complete=True)
    assert preview.encoding == detected
    expected = [line.split(";") for line in text.splitlines()]
    assert [column.name for column in preview.columns] == expected[0]
    assert [column.samples[0] for column in preview.columns] == expected[1]


def test_a_single_polish_name_is_enough_to_tell_windows_1250() -> None:
    # What the try-out stored as "£ukasz ¯ó³kiewski" with no warning.
    data = "First;Last;E-mail\r\nŁukasz;Żółkiewski;l@example.pl\r\n".encode("cp1250")
    preview = preview_csv(data, complete=True)
    assert preview.encoding == "windows-1250"
    assert preview.columns[1].samples == ["Żółkiewski"]


def test_central_european_encodings_may_be_named() -> None:
    assert encoding_name("windows-1250") == encoding_name("CP1250") == "windows-1250"
    assert encoding_name("iso-8859-2") == encoding_name("latin2") == "iso-8859-2"
    data = "Imię;Nazwisko\r\nŁukasz;Żółkiewski\r\n".encode("iso-8859-2")
    preview = preview_csv(data, complete=True, encoding="ISO-8859-2")
    assert preview.encoding == "iso-8859-2"
    assert preview.columns[1].samples == ["Żółkiewski"]


async def _upload(data: bytes) -> list[list[str]]:
    async def pieces() -> AsyncIterator[bytes]:
        for start in range(0, len(data), 100):
            yield data[start : start + 100]

    return [record async for record in CsvStream(pieces()).records()]


async def test_a_windows_1250_upload_stores_the_names_as_typed() -> None:
    records = await _upload(POLISH.encode("cp1250"))
    assert records[1][:2] == ["Łukasz", "Żółkiewski"]


async def test_a_hungarian_upload_stores_the_names_as_typed() -> None:
    # What the try-out stored as "Erdõs Gyõzõ", "Szûcs Lõrinc".
    records = await _upload(HUNGARIAN.encode("cp1250"))
    assert [record[:2] for record in records[1:4]] == [
        ["Erdős", "Győző"],
        ["Kovács", "Gábor"],
        ["Szűcs", "Lőrinc"],
    ]


@pytest.mark.parametrize(
    ("text", "codec"),
    [
        (POLISH, "cp1250"),
        (CZECH, "iso8859-2"),
        (HUNGARIAN, "cp1250"),
        (FRENCH, "cp1252"),
        (GERMAN, "cp1252"),
        (WESTERN_MIX, "cp1252"),
    ],
)
def test_a_clear_detection_leaves_no_note(text: str, codec: str) -> None:
    detected = sniff_encoding(text.encode(codec), complete=True)
    assert (detected.note, detected.alternative) == (None, None)


async def test_an_ambiguous_file_says_which_encoding_was_assumed_and_how_to_name_another() -> None:
    # Two Hungarian names whose letters read as Portuguese in Windows-1252: nothing in the
    # bytes tells, so the guess stays Windows-1252, and says so.
    data = "Vezetéknév;Keresztnév\r\nErdős;Győző\r\nKovács;Gábor\r\n".encode("cp1250")
    detected = sniff_encoding(data, complete=True)
    assert (detected.name, detected.alternative) == ("windows-1252", "windows-1250")
    assert detected.note is not None
    assert "reads as plausibly in windows-1250 as in windows-1252, the one assumed" in (
        detected.note
    )
    assert "'Erdõs' would be 'Erdős' in windows-1250" in detected.note
    assert "'windows-1250' as the import's `encoding`" in detected.note
    preview = preview_csv(data, complete=True)
    assert (preview.encoding_note, preview.encoding_alternative) == (
        detected.note,
        "windows-1250",
    )
    stream = CsvStream(_pieces_of(data))
    assert [record async for record in stream.records()][1] == ["Erdõs", "Gyõzõ"]
    assert stream.encoding_note == detected.note
    # Named, it reads right and there is nothing to say.
    named = CsvStream(_pieces_of(data), encoding="windows-1250")
    assert [record async for record in named.records()][1] == ["Erdős", "Győző"]
    assert named.encoding_note is None
    assert preview_csv(data, complete=True, encoding="windows-1250").encoding_note is None


async def _pieces_of(data: bytes) -> AsyncIterator[bytes]:
    yield data


def _zip(*members: tuple[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members:
            archive.writestr(name, content)
    return buffer.getvalue()


XLSX = _zip(
    ("[Content_Types].xml", b"<Types/>"),
    ("_rels/.rels", b"<Relationships/>"),
    ("xl/workbook.xml", b"<workbook/>"),
    ("xl/worksheets/sheet1.xml", b"<worksheet/>"),
)
ODS = _zip(
    ("mimetype", b"application/vnd.oasis.opendocument.spreadsheet"),
    ("content.xml", b"<office:document-content/>"),
)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (XLSX, "This is an Excel workbook (.xlsx); save it as CSV (UTF-8) and upload that"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), "Excel 97-2003 workbook (.xls)"),
        (ODS, "OpenDocument spreadsheet (.ods)"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "PDF document"),
        (_zip(("notes.txt", b"hello")), "ZIP archive"),
        (b"First,Last\r\nAda\x00\x00\x01,Lovelace\r\n", "binary file"),
    ],
)
async def test_a_spreadsheet_or_binary_file_is_refused_saying_what_it_is(
    data: bytes, reason: str
) -> None:
    for encoding in (None, "utf-8", "windows-1252"):
        with pytest.raises(CsvFormatError, match=reason.replace("(", r"\(").replace(")", r"\)")):
            preview_csv(data, complete=True, encoding=encoding)
    # The upload reads the file the same way, before any row is stored.
    with pytest.raises(CsvFormatError, match="save it as CSV"):
        await _upload(data)


def test_utf16_nul_bytes_are_text() -> None:
    data = "First\tLast\r\nZoë\tMüller\r\n".encode("utf-16-le")
    assert not_csv_reason(data, utf16=True) is None
    assert preview_csv(data, complete=True).encoding == "utf-16-le"
