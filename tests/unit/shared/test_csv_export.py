"""CSV the service writes cannot smuggle formulas into a spreadsheet."""

from __future__ import annotations

import csv
import io

import pytest

from crm_shared.csv_export import SEMICOLON, csv_line, excel_text, neutralise

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ('=HYPERLINK("http://evil","x")', '\'=HYPERLINK("http://evil","x")'),
        ("+1+1", "'+1+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("Ada", "Ada"),
        ("a=1", "a=1"),
        ("", ""),
        (None, ""),
        (7, "7"),
        (-3, "-3"),
        (-0.25, "-0.25"),
        ("-3", "'-3"),
        (True, "True"),
    ],
)
def test_cells_a_spreadsheet_would_evaluate_are_prefixed(value: object, written: str) -> None:
    assert neutralise(value) == written


def test_a_line_reads_back_as_the_neutralised_cells() -> None:
    line = csv_line([4, "=cmd|' /C calc'!A0", 'say "hi", ok', "-", None])
    assert line.endswith("\r\n")
    assert next(csv.reader(io.StringIO(line))) == [
        "4",
        "'=cmd|' /C calc'!A0",
        'say "hi", ok',
        "'-",
        "",
    ]


@pytest.mark.parametrize(
    ("value", "written"),
    [
        # Excel, opening the file by double-click, would read these as dates or numbers.
        ("1-9", "'1-9"),
        ("10-24", "'10-24"),
        ("3/4", "'3/4"),
        ("1.2.2026", "'1.2.2026"),
        ("Jan-5", "'Jan-5"),
        ("10:30", "'10:30"),
        ("007", "'007"),
        ("12345678901234567890", "'12345678901234567890"),
        ("1e9", "'1e9"),
        ("0,25", "'0,25"),
        ("5%", "'5%"),
        # Read as what they show, or text already: as they are.
        ("2026", "2026"),
        ("0", "0"),
        ("2026-11-01", "2026-11-01"),
        ("1 to 9", "1 to 9"),
        ("50 or more", "50 or more"),
        ("30-90d", "30-90d"),
        ("Interview 2/3", "Interview 2/3"),
        ("March", "March"),
        (3, 3),
        (0.25, 0.25),
        # A formula is left to `neutralise` (one prefix, not two).
        ("-3", "-3"),
    ],
)
def test_text_excel_would_turn_into_a_date_or_number_is_kept_text(
    value: object, written: object
) -> None:
    assert excel_text(value) == written
    assert neutralise(excel_text("-3")) == "'-3"


def test_a_line_keeps_text_excel_would_turn_into_a_date_or_number() -> None:
    """Every CSV the services write goes through `csv_line`, so each gets both guards."""
    line = csv_line(["1-9", "007", "1e9", "=cmd", "2026-11-01", 7, -0.5], SEMICOLON)
    assert next(csv.reader(io.StringIO(line), delimiter=";")) == [
        "'1-9",
        "'007",
        "'1e9",
        "'=cmd",
        "2026-11-01",
        "7",
        "-0,5",
    ]
