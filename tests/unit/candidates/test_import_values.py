"""Yes/no words and spreadsheet dates as a CSV import reads them."""

from __future__ import annotations

import pytest

from crm_candidates.domain.import_values import (
    YES_NO_WORDS,
    DateColumnEvidence,
    DateOrder,
    DateReading,
    column_date_reading,
    not_yes_or_no,
    read_date,
    region_date_order,
    yes_or_no,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("cell", "answer"),
    [
        ("Yes", True),
        ("no", False),
        ("JA", True),
        ("Nein", False),
        ("oui", True),
        ("Non", False),
        ("sí", True),
        ("Si", True),
        ("sì", True),
        ("SIM", True),
        ("não", False),
        ("nao", False),
        ("nee", False),
        ("Nej", False),
        ("nei", False),
        ("Kyllä", True),
        ("ei", False),
        ("wahr", True),
        ("FALSCH", False),
        (" x ", True),
        ("0", False),
        ("", False),
    ],
)
def test_yes_and_no_in_the_languages_whose_headers_the_import_knows(
    cell: str, answer: bool
) -> None:
    assert yes_or_no(cell) is answer


def test_a_word_that_is_neither_is_reported_in_our_words() -> None:
    assert yes_or_no("vielleicht") is None
    assert yes_or_no("maybe") is None
    assert not_yes_or_no(" vielleicht ") == "`vielleicht` is not yes or no"


def test_no_word_means_yes_in_one_language_and_no_in_another() -> None:
    # Built from per-language lists: a word in both would silently take the last answer.
    from crm_candidates.domain import import_values

    yes = {w for words, _ in import_values._WORDS_BY_LANGUAGE.values() for w in words}
    no = {w for _, words in import_values._WORDS_BY_LANGUAGE.values() for w in words}
    assert not yes & no
    assert len(YES_NO_WORDS) == len(
        {import_values._fold(w) for w in yes} | {import_values._fold(w) for w in no}
    )


def evidence(column: str, *cells: str) -> DateColumnEvidence:
    seen = DateColumnEvidence(column)
    for cell in cells:
        seen.see(cell)
    return seen


def test_one_day_above_12_makes_the_whole_column_day_first() -> None:
    seen = evidence("Start", "03/04/2025", "", "31.12.2025", "2025-01-02", "05-06-2025")
    assert (seen.day_first_example, seen.month_first_example) == ("31.12.2025", None)
    reading = column_date_reading("Start", seen.day_first_example, None, None)
    assert reading == DateReading(DateOrder.DAY_FIRST)
    assert read_date("03/04/2025", reading) == "2025-04-03"
    assert read_date("31.12.2025", reading) == "2025-12-31"
    assert read_date("5-6-2025", reading) == "2025-06-05"


def test_one_second_part_above_12_makes_it_month_first() -> None:
    seen = evidence("Start", "03/04/2025", "12/31/2025")
    reading = column_date_reading("Start", None, seen.month_first_example, "DE")
    assert reading.order is DateOrder.MONTH_FIRST  # the column outweighs the region
    assert read_date("03/04/2025", reading) == "2025-03-04"


def test_a_column_with_both_orders_is_refused_naming_both() -> None:
    seen = evidence("Start", "31/12/2025", "12/31/2025")
    reading = column_date_reading("Start", seen.day_first_example, seen.month_first_example, "US")
    assert reading.order is None
    with pytest.raises(ValueError, match=r"day-first dates .*31/12/2025.*month-first"):
        read_date("01/02/2025", reading)
    # ISO stays readable whatever the column.
    assert read_date("2025-02-01", reading) == "2025-02-01"


def test_an_ambiguous_column_takes_the_region_or_is_refused_with_the_reason() -> None:
    assert column_date_reading("Start", None, None, "DE").order is DateOrder.DAY_FIRST
    assert column_date_reading("Start", None, None, "us").order is DateOrder.MONTH_FIRST
    assert region_date_order("CA") is None
    refused = column_date_reading("Start", None, None, None)
    with pytest.raises(ValueError, match="no date in column") as ambiguous:
        read_date("03/04/2025", refused)
    message = str(ambiguous.value)
    assert message.startswith("`03/04/2025`: no date in column `Start` has a day above 12")
    assert "default_region" in message


def test_iso_serials_and_what_is_no_date() -> None:
    either = DateReading(DateOrder.DAY_FIRST)
    assert read_date(" 2025-12-31 ", either) == "2025-12-31"
    assert read_date("2025/1/2", either) == "2025-01-02"
    assert read_date("46022", either) == "2025-12-31"  # Excel's serial number
    with pytest.raises(ValueError, match="no day of the calendar"):
        read_date("31/02/2025", either)
    with pytest.raises(ValueError, match="no day of the calendar"):
        read_date("2025-02-30", either)
    for text in ("tomorrow", "31/12/25", "12", "2025-12-31T10:00"):
        with pytest.raises(ValueError, match="is not a date"):
            read_date(text, either)
