"""CSV the service writes cannot smuggle formulas into a spreadsheet."""

from __future__ import annotations

import csv
import io

import pytest

from crm_shared.csv_export import csv_line, neutralise

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
