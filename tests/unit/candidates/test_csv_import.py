"""Reading CSV files as people export them: encodings, delimiters, line ends, hostile bytes."""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import AsyncIterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm_candidates.domain.csv_import import (
    MAX_RECORD_CHARS,
    ColumnPlan,
    CsvFormatError,
    CsvStream,
    RecordSplitter,
    column_of,
    detect_delimiter,
    detect_encoding,
    encoding_name,
    mapping_errors,
    parse_record,
    row_fields,
    split_full_name,
)

pytestmark = pytest.mark.unit

HEADER = ["First", "Last", "E-mail"]


async def read(
    data: bytes, *, pieces: int = 1, **options: str | None
) -> tuple[list[list[str]], str | None, str | None]:
    async def stream() -> AsyncIterator[bytes]:
        size = max(1, -(-len(data) // pieces))
        for start in range(0, len(data), size):
            yield data[start : start + size]

    csv_stream = CsvStream(stream(), expected_columns=HEADER, **options)
    records = [record async for record in csv_stream.records()]
    return records, csv_stream.encoding, csv_stream.delimiter


@pytest.mark.parametrize(
    ("text", "encoding", "detected_encoding", "delimiter"),
    [
        # Excel "CSV UTF-8": BOM, comma.
        ("First,Last,E-mail\r\nZoë,Müller,z@x.org\r\n", "utf-8-sig", "utf-8", ","),
        # Excel "CSV" on a German, French or Polish Windows: Windows-1252, semicolon.
        ("First;Last;E-mail\r\nZoë;Müller;z@x.org\r\n", "cp1252", "windows-1252", ";"),
        # Excel "Unicode text": UTF-16 with BOM, tab.
        ("First\tLast\tE-mail\r\nZoë\tMüller\tz@x.org\r\n", "utf-16", "utf-16", "\t"),
        # UTF-16 without BOM, pipes.
        ("First|Last|E-mail\nZoë|Müller|z@x.org\n", "utf-16-le", "utf-16-le", "|"),
        ("First;Last;E-mail\nZoë;Müller;z@x.org\n", "utf-8", "utf-8", ";"),
    ],
)
async def test_the_encoding_and_delimiter_excel_wrote_are_detected(
    text: str, encoding: str, detected_encoding: str, delimiter: str
) -> None:
    data = text.encode(encoding)
    for pieces in (1, 3, len(data)):
        records, used_encoding, used_delimiter = await read(data, pieces=pieces)
        assert records == [HEADER, ["Zoë", "Müller", "z@x.org"]], pieces
        assert (used_encoding, used_delimiter) == (detected_encoding, delimiter)


async def test_named_encoding_and_delimiter_win_over_detection() -> None:
    data = "First,Last;E-mail\nZoë,Mü;x\n".encode("latin-1")
    records, encoding, delimiter = await read(data, encoding="latin1", delimiter=";")
    assert records == [["First,Last", "E-mail"], ["Zoë,Mü", "x"]]
    assert (encoding, delimiter) == ("iso-8859-1", ";")
    with pytest.raises(CsvFormatError, match="not utf-8 text"):
        await read("Zoë\n".encode("cp1252"), encoding="UTF8")


def test_encoding_names_and_detection_rules() -> None:
    assert encoding_name("CP1252") == encoding_name("windows-1252") == "windows-1252"
    assert encoding_name("utf_8") == "utf-8"
    with pytest.raises(ValueError, match="not an encoding"):
        encoding_name("ebcdic-cp-be")
    with pytest.raises(ValueError, match="not an encoding"):
        encoding_name("no-such-codec")
    # A multi-byte character cut at the end of the sniffed bytes is still UTF-8.
    assert detect_encoding("zoë".encode()[:-1], complete=False) == "utf-8"
    assert detect_encoding("zoë".encode()[:-1], complete=True) == "windows-1252"
    assert detect_delimiter("just one column") == ","
    assert detect_delimiter("a;b,c;d") == ";"
    assert detect_delimiter("First,Name;E-mail", ["First,Name", "E-mail"]) == ";"


async def test_windows_1252_never_fails_to_decode() -> None:
    # 0x81, 0x8D, 0x8F, 0x90 and 0x9D are undefined in Windows-1252: read as Latin-1.
    records, encoding, _ = await read(b"First,Last,E-mail\n\x81\x8d,\x8f\x90\x9d,\x80\n")
    assert encoding == "windows-1252"
    assert records[1] == ["\x81\x8d", "\x8f\x90\x9d", "€"]


async def test_only_line_ends_outside_quotes_end_a_row() -> None:
    text = (
        "First,Last,E-mail\r\n"
        "Zoë,Mül\u2028ler\u2029\x85\x0b\x0c\x1c,z@x.org\r\n"  # splitlines() would cut these
        '"Line\nbreak","Old\rMac",a@x.org\n'
        'Cut,Mid"quote,b@x.org\r'  # a quote inside a field is a character; CR alone ends a row
        '"Esc ""q""",,c@x.org'
    )
    records, _, _ = await read(text.encode())
    assert records == [
        HEADER,
        ["Zoë", "Mül\u2028ler\u2029\x85\x0b\x0c\x1c", "z@x.org"],
        ["Line\nbreak", "Old\rMac", "a@x.org"],
        ["Cut", 'Mid"quote', "b@x.org"],
        ['Esc "q"', "", "c@x.org"],
    ]
    for cut in range(1, len(text)):
        pieces = [text[:cut], text[cut:]]
        splitter = RecordSplitter(",")
        got = splitter.feed(pieces[0]) + splitter.feed(pieces[1], final=True)
        assert [parse_record(r, ",") for r in got] == records, cut


async def test_a_file_without_line_ends_or_with_an_open_quote_is_refused_with_the_reason() -> None:
    with pytest.raises(CsvFormatError, match="the header is longer than 65,536 characters"):
        await read(b"x" * (MAX_RECORD_CHARS + 10), pieces=7)
    with pytest.raises(CsvFormatError, match="row 1 is longer"):
        await read(b"First,Last,E-mail\n" + b"y" * 200_000, pieces=40)
    with pytest.raises(CsvFormatError, match="quoted field is never closed"):
        await read(b'First,Last,E-mail\n"open,\n' + b"y\n" * 40_000, pieces=40)
    with pytest.raises(CsvFormatError, match="opened in row 2 is never closed"):
        await read(b'First,Last,E-mail\na,b,c\n"open,b,c\n')
    # A field just under the bound is fine: far beyond the csv module's 131,072 it never gets.
    big = "z" * (MAX_RECORD_CHARS - 100)
    records, _, _ = await read(f"First,Last,E-mail\n{big},b,c\n".encode())
    assert records[1][0] == big


hostile_bytes = st.one_of(
    st.binary(max_size=600),
    st.lists(
        st.sampled_from(
            [
                b",",
                b";",
                b"\t",
                b'"',
                b'""',
                b"\r",
                b"\n",
                b"\r\n",
                b"\x00",
                b"\xff",
                b"\xfe",
                b"\xef\xbb\xbf",
                "\u2028".encode(),
                "é".encode(),
                b"\xe9",
                b"a",
                b"First",
                b"E-mail",
                b"x@y.org",
                b"=cmd",
                b"+49 151 23456789",
            ]
        ),
        max_size=80,
    ).map(b"".join),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=hostile_bytes,
    pieces=st.integers(min_value=1, max_value=9),
    encoding=st.sampled_from([None, "utf-8", "utf-16", "windows-1252"]),
    delimiter=st.sampled_from([None, ",", ";", "\t"]),
)
async def test_any_bytes_are_rows_of_strings_or_a_format_error(
    data: bytes, pieces: int, encoding: str | None, delimiter: str | None
) -> None:
    try:
        records, _, _ = await read(data, pieces=pieces, encoding=encoding, delimiter=delimiter)
    except CsvFormatError:
        return
    for record in records:
        assert all(isinstance(cell, str) for cell in record)
    if records:
        try:
            plan = ColumnPlan.from_header(records[0], [("First", "first_name")])
        except CsvFormatError:
            return
        for record in records[1:]:
            row_fields(plan.targets(), plan.cells(record))


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=300), pieces=st.integers(min_value=1, max_value=5))
async def test_any_text_reads_back_as_the_csv_module_reads_it(text: str, pieces: int) -> None:
    """The record splitter agrees with the csv module reading the whole text at once."""
    try:
        expected = [row for row in csv.reader(io.StringIO(text, newline="")) if row]
    except csv.Error:
        return
    if text.count('"') % 2:
        return  # an open quote at the end: the csv module keeps it, the importer refuses it
    data = codecs.BOM_UTF8 + text.encode()
    try:
        records, _, _ = await read(data, pieces=pieces, delimiter=",")
    except CsvFormatError:
        return
    assert [r for r in records if r] == expected


@pytest.mark.parametrize(
    ("whole", "first", "last"),
    [
        ("Ana García", "Ana", "García"),
        ("  Ana   María  García ", "Ana María", "García"),
        ("Ana María de la Cruz", "Ana María", "de la Cruz"),
        ("Jan van der Berg", "Jan", "van der Berg"),
        ("Ødegård, Zoë", "Zoë", "Ødegård"),
        ("Madonna", "Madonna", ""),
        ("De Vries", "De", "Vries"),  # a particle alone before the last word stays a name
    ],
)
def test_a_whole_name_is_split_into_first_and_last(whole: str, first: str, last: str) -> None:
    assert split_full_name(whole) == (first, last)


def test_a_full_name_column_feeds_both_names_unless_they_have_columns_of_their_own() -> None:
    targets = [("Name", "full_name"), ("E-mail", "emails")]
    assert row_fields(targets, ["José Núñez", "jose@example.es"]) == {
        "first_name": "José",
        "last_name": "Núñez",
        "emails": ["jose@example.es"],
    }
    own = [("Name", "full_name"), ("Vorname", "first_name")]
    assert row_fields(own, ["Groß, Jürgen", "Jürgen-Peter"])["first_name"] == "Jürgen-Peter"
    assert mapping_errors({"Name": "full_name", "E-mail": "emails"}) == []
    assert column_of(targets, "last_name") == "Name"
