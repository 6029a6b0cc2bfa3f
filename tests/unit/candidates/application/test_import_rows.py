"""What one CSV row becomes: every invalid field reported, optional faults only warned about."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crm_candidates.application import imports as imports_module
from crm_candidates.application.imports import (
    ERROR,
    WARNING,
    RowProblem,
    merged_row,
    validate_row,
)
from crm_candidates.domain.custom_fields import CustomFieldDefinition, CustomFieldType
from crm_candidates.domain.models import Candidate, CandidateImport, ImportDateColumn
from crm_candidates.domain.profile import ProfileRules
from crm_candidates.repositories.imports import ImportRepository
from crm_shared import Limits, LocalUploadStore, UploadTooLargeError

pytestmark = pytest.mark.unit

JOB = CandidateImport(
    tenant_id="acme",
    mapping=[
        ("First", "first_name"),
        ("Last", "last_name"),
        ("Mail", "emails"),
        ("Phone", "phones"),
        ("Web", "profile_urls"),
        ("Title", "current_title"),
        ("Zone", "time_zone"),
        ("Level", "custom_fields.level"),
        ("Opt-in", "marketing_consent"),
    ],
    tags=["fair"],
    created_by="rita",
)
RULES = ProfileRules(
    phone_region="DE",
    custom_fields={
        "level": CustomFieldDefinition(
            tenant_id="acme",
            key="level",
            label="Level",
            type=CustomFieldType.ENUM,
            allowed_values=["junior", "senior"],
            created_by="ada",
        )
    },
)


def row(**cells: str) -> list[str]:
    values = {
        "First": "Ada",
        "Last": "Lovelace",
        "Mail": "ada@x.org",
        "Phone": "",
        "Web": "",
        "Title": "",
        "Zone": "",
        "Level": "",
        "Opt-in": "",
    } | cells
    return [values[column] for column, _ in JOB.mapping]


def problems(result_problems: list[RowProblem]) -> list[tuple[str, str]]:
    return [(p.field, p.severity) for p in result_problems]


def test_a_row_whose_only_faults_are_optional_values_imports_without_them() -> None:
    result = validate_row(
        JOB,
        RULES,
        row(
            Phone="+49 151 2345678; call me",
            Web="not a url at all; github.com/ada",
            Zone="Mars/Olympus",
            Level="guru",
            Title="T" * 301,
            **{"Opt-in": "maybe"},
        ),
    )
    assert result.candidate is not None
    assert result.candidate.phones == ["+491512345678"]
    assert result.candidate.profile_urls == ["https://github.com/ada"]
    assert result.candidate.time_zone is None
    assert result.candidate.current_title is None
    assert result.candidate.custom_fields == {}
    assert result.candidate.marketing_consent is False
    assert result.candidate.tags == ["fair"]
    # Each invalid value with its index in the file's cell, every one of them.
    assert problems(result.problems) == [
        ("phones.1", WARNING),
        ("profile_urls.0", WARNING),
        ("current_title", WARNING),
        ("time_zone", WARNING),
        ("custom_fields.level", WARNING),
        ("marketing_consent", WARNING),
    ]
    assert all(p.message for p in result.problems)


def test_a_refused_row_reports_every_invalid_field_not_only_the_first() -> None:
    result = validate_row(
        JOB, RULES, row(First="A" * 5_200, Mail="not-an-email", Phone="12", Zone="Nowhere")
    )
    assert result.candidate is None
    assert problems(result.problems) == [
        ("first_name", ERROR),
        ("emails.0", ERROR),
        ("phones.0", WARNING),
        ("time_zone", WARNING),
    ]
    assert "200" in result.problems[0].message


def test_an_address_is_needed_but_a_bad_second_one_is_only_a_warning() -> None:
    second = validate_row(JOB, RULES, row(Mail="ada@x.org, ada@@x"))
    assert second.candidate is not None
    assert second.candidate.emails == ["ada@x.org"]
    assert problems(second.problems) == [("emails.1", WARNING)]
    none = validate_row(JOB, RULES, row(Mail=""))
    assert none.candidate is None
    assert problems(none.problems) == [("emails", ERROR)]
    nameless = validate_row(JOB, RULES, row(First=" "))
    assert nameless.candidate is None
    assert problems(nameless.problems) == [("first_name", ERROR)]


def test_what_only_the_whole_row_shows() -> None:
    many = validate_row(JOB, RULES, row(Phone="; ".join(f"+49151234567{n:02d}" for n in range(11))))
    assert many.candidate is not None
    assert many.candidate.phones == []
    assert problems(many.problems) == [("phones", WARNING)]
    required = ProfileRules(
        custom_fields={"level": RULES.custom_fields["level"].model_copy(update={"required": True})}
    )
    missing = validate_row(JOB, required, row(Level="guru"))
    assert missing.candidate is None
    assert problems(missing.problems) == [("custom_fields.level", ERROR)]
    assert "is required" in missing.problems[0].message


@settings(max_examples=150, deadline=None)
@given(cells=st.lists(st.text(max_size=40), min_size=9, max_size=9))
def test_any_cells_become_a_candidate_or_problems_never_an_exception(cells: list[str]) -> None:
    result = validate_row(JOB, RULES, cells)
    assert (result.candidate is not None) or any(p.severity == ERROR for p in result.problems)


class FakeImports:
    """Records what an upload stores in the database."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def touch_upload(self, import_id: str) -> None:
        self.calls.append("touch")

    async def finish_upload(self, import_id: str, chunks: int, **dialect: object) -> None:
        self.calls.append(
            f"finish {chunks} rows={dialect['rows_read']} {dialect['encoding']} "
            f"{dialect['delimiter']!r}"
        )


async def test_a_slow_upload_keeps_saying_it_is_alive(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    clock = [0.0]
    monkeypatch.setattr("crm_shared.uploads.monotonic", lambda: clock[0])

    async def slow_body() -> AsyncIterator[bytes]:
        yield ";".join(column for column, _ in JOB.mapping).encode() + b"\n"
        yield b"\n" * 70_000
        for n in range(3):
            clock[0] += imports_module.UPLOAD_HEARTBEAT_SECONDS + 1  # a long pause per row
            yield f"A{n};B;a{n}@x.org;;;;;;\n".encode()

    fake = FakeImports()
    store = LocalUploadStore(tmp_path)
    rows = await imports_module.receive_file(
        cast(ImportRepository, fake), store, JOB, slow_body(), Limits()
    )
    assert rows == 3
    assert fake.calls == ["touch", "touch", "touch", "finish 1 rows=3 utf-8 ';'"]
    # The file itself is in the store, not in the database.
    assert (tmp_path / JOB.tenant_id / JOB.id).stat().st_size > 70_000


SMALL_JOB = JOB.model_copy(update={"mapping": JOB.mapping[:3]})


def _csv(rows: int) -> bytes:
    lines = ["First,Last,Mail"] + [f"P{n},Q,p{n}@x.org" for n in range(rows)]
    return ("\r\n".join(lines) + "\r\n").encode()


async def _body(data: bytes, piece: int = 1000) -> AsyncIterator[bytes]:
    for start in range(0, len(data), piece):
        yield data[start : start + piece]


async def test_the_upload_quotas_stop_a_file(tmp_path: Path) -> None:
    store = LocalUploadStore(tmp_path)
    fake = cast(ImportRepository, FakeImports())
    data = _csv(30)
    with pytest.raises(UploadTooLargeError):
        await imports_module.receive_file(
            fake, store, SMALL_JOB, _body(data), Limits(max_upload_bytes=len(data) - 1)
        )
    assert not [path for path in tmp_path.rglob("*") if path.is_file()]  # noqa: ASYNC240
    with pytest.raises(imports_module.TooManyRowsError) as too_many:
        await imports_module.receive_file(
            fake, store, SMALL_JOB, _body(data), Limits(max_import_rows=29)
        )
    assert too_many.value.limit == 29
    assert (
        await imports_module.receive_file(
            fake,
            store,
            SMALL_JOB,
            _body(data),
            Limits(max_upload_bytes=len(data), max_import_rows=30),
        )
        == 30
    )


async def test_a_stored_file_is_read_back_in_the_chunks_the_upload_counted(
    tmp_path: Path,
) -> None:
    store = LocalUploadStore(tmp_path)
    job = SMALL_JOB.model_copy(update={"encoding": "utf-8", "delimiter": ","})
    await store.put(job.tenant_id, job.id, _body(_csv(2 * imports_module.IMPORT_CHUNK_ROWS + 7)))
    chunks = imports_module.FileChunks(store, job)
    rows = await chunks.chunk(0) or []
    assert (rows[0][0], len(rows), rows[0][1][:3]) == (1, 250, ["P0", "Q", "p0@x.org"])
    # A resumed import starts at its next chunk, reading past the ones done.
    resumed = imports_module.FileChunks(store, job)
    last = await resumed.chunk(2)
    assert last is not None
    assert last[0][0] == 501
    assert [cells[0] for _, cells in last] == [f"P{n}" for n in range(500, 507)]
    assert await resumed.chunk(3) is None
    await chunks.close()
    await resumed.close()


async def test_a_rows_number_counts_the_blank_rows_before_it_as_a_spreadsheet_does(
    tmp_path: Path,
) -> None:
    """Blank rows (empty lines, a row of separators only) are skipped, but still counted: a
    report naming row 6 names the 7th line in Excel, the header being its first."""
    store = LocalUploadStore(tmp_path)
    job = SMALL_JOB.model_copy(update={"encoding": "utf-8", "delimiter": ","})
    lines = _csv(3).decode().splitlines()  # the header and three people
    text = "\r\n".join([*lines[:4], ",,,,", "", *_csv(5).decode().splitlines()[4:]]) + "\r\n"
    await store.put(job.tenant_id, job.id, _body(text.encode()))
    chunks = imports_module.FileChunks(store, job)
    rows = await chunks.chunk(0) or []
    assert [(number, cells[0]) for number, cells in rows] == [
        (1, "P0"),
        (2, "P1"),
        (3, "P2"),
        (6, "P3"),
        (7, "P4"),
    ]
    await chunks.close()


def test_a_5200_character_name_is_a_row_error_naming_the_field_and_its_limit() -> None:
    result = validate_row(JOB, RULES, row(First="N" * 5200, Title="T" * 5200))
    assert result.candidate is None
    found = {p.field: p for p in result.problems}
    assert found["first_name"].severity == ERROR
    assert "200" in found["first_name"].message
    assert found["current_title"].severity == WARNING
    assert "300" in found["current_title"].message


def on_file(**fields: object) -> Candidate:
    return Candidate.model_validate(
        {
            "tenant_id": "acme",
            "first_name": "Ada",
            "last_name": "Known",
            "emails": ["ada@x.org"],
            "created_by": "rita",
        }
        | fields
    )


def test_a_merged_row_adds_the_imports_tags_to_the_record_on_file() -> None:
    base = on_file(tags=["alumni"])
    incoming = on_file(first_name="Other", emails=["ada@x.org"], phones=["+4930123456"])
    merged = merged_row(base, incoming, set(), ["Messe 2026", "alumni"])
    assert merged.tags == ["alumni", "Messe 2026"]
    assert merged.phones == ["+4930123456"]
    assert merged.first_name == "Ada"  # the row's other values do not overwrite the record's


def test_a_tag_the_record_has_in_another_spelling_is_not_doubled_nor_removed() -> None:
    base = on_file(tags=["MESSE  2026", "vip"])
    merged = merged_row(base, on_file(), set(), ["messe 2026"])
    assert merged == base


def test_only_the_imports_tags_reach_a_record_on_file_not_a_rows_tags_column() -> None:
    merged = merged_row(on_file(), on_file(tags=["from the row", "fair"]), set(), ["fair"])
    assert merged.tags == ["fair"]


SPREADSHEET_JOB = CandidateImport(
    tenant_id="acme",
    mapping=[
        ("Vorname", "first_name"),
        ("Nachname", "last_name"),
        ("E-Mail", "emails"),
        ("Marketing consent (yes/no)", "marketing_consent"),
        ("Umzug", "custom_fields.relocate"),
        ("Start", "custom_fields.start"),
    ],
    created_by="rita",
)
SPREADSHEET_RULES = ProfileRules(
    custom_fields={
        "relocate": CustomFieldDefinition(
            tenant_id="acme",
            key="relocate",
            label="Relocate",
            type=CustomFieldType.BOOLEAN,
            created_by="ada",
        ),
        "start": CustomFieldDefinition(
            tenant_id="acme",
            key="start",
            label="Start",
            type=CustomFieldType.DATE,
            created_by="ada",
        ),
    },
)


def spreadsheet_row(consent: str, relocate: str, start: str) -> list[str]:
    return ["Ada", "Lovelace", "ada@x.org", consent, relocate, start]


def test_german_yes_and_no_are_read_and_anything_else_is_reported_in_our_words() -> None:
    yes = validate_row(SPREADSHEET_JOB, SPREADSHEET_RULES, spreadsheet_row("ja", "Nein", ""))
    assert yes.candidate is not None
    assert yes.problems == []
    assert yes.candidate.marketing_consent is True
    assert yes.candidate.custom_fields == {"relocate": False}
    maybe = validate_row(
        SPREADSHEET_JOB, SPREADSHEET_RULES, spreadsheet_row("vielleicht", "oui?", "")
    )
    assert maybe.candidate is not None
    assert maybe.candidate.marketing_consent is False
    assert maybe.candidate.custom_fields == {}
    assert [(p.field, p.message, p.severity) for p in maybe.problems] == [
        ("marketing_consent", "`vielleicht` is not yes or no", WARNING),
        ("custom_fields.relocate", "`oui?` is not yes or no", WARNING),
    ]


NUMBERS_JOB = CandidateImport(
    tenant_id="acme",
    mapping=[
        ("First", "first_name"),
        ("Last", "last_name"),
        ("Mail", "emails"),
        ("Jahre", "custom_fields.years"),
        ("Sprachen", "custom_fields.languages"),
    ],
    created_by="rita",
)
NUMBERS_RULES = ProfileRules(
    custom_fields={
        "years": CustomFieldDefinition(
            tenant_id="acme", key="years", label="Years", type=CustomFieldType.NUMBER,
            created_by="ada",
        ),
        "languages": CustomFieldDefinition(
            tenant_id="acme", key="languages", label="Languages",
            type=CustomFieldType.MULTI_ENUM, allowed_values=["German", "English", "French"],
            created_by="ada",
        ),
    },
)  # fmt: skip


@pytest.mark.parametrize(
    ("cell", "years"),
    [("7", 7), ("2,5", 2.5), ("1.234,5", 1234.5), ("1 500", 1500), ("0.75", 0.75)],
)
def test_a_number_column_is_read_as_a_spreadsheet_writes_it(cell: str, years: float) -> None:
    read = validate_row(
        NUMBERS_JOB, NUMBERS_RULES, ["Ada", "Lovelace", "ada@x.org", cell, "german; English"]
    )
    assert read.candidate is not None
    assert read.problems == []
    assert read.candidate.custom_fields == {"years": years, "languages": ["German", "English"]}


def test_a_cell_that_is_no_number_is_dropped_with_the_reason() -> None:
    read = validate_row(NUMBERS_JOB, NUMBERS_RULES, ["Ada", "Lovelace", "ada@x.org", "five", ""])
    assert read.candidate is not None
    assert read.candidate.custom_fields == {}
    assert [(p.field, p.message, p.severity) for p in read.problems] == [
        ("custom_fields.years", "`five` is not a number", WARNING)
    ]


def test_a_date_column_is_read_in_the_order_the_whole_file_showed() -> None:
    day_first = SPREADSHEET_JOB.model_copy(
        update={"date_columns": [ImportDateColumn(column="Start", day_first_example="31/12/2025")]}
    )
    read = validate_row(day_first, SPREADSHEET_RULES, spreadsheet_row("", "", "03/04/2025"))
    assert read.candidate is not None
    assert read.problems == []
    assert read.candidate.custom_fields == {"start": "2025-04-03"}
    # An ambiguous column and no region named: the value is dropped with the reason.
    unknown = validate_row(
        SPREADSHEET_JOB, SPREADSHEET_RULES, spreadsheet_row("", "", "03/04/2025")
    )
    assert unknown.candidate is not None
    assert unknown.candidate.custom_fields == {}
    [problem] = unknown.problems
    assert (problem.field, problem.severity) == ("custom_fields.start", WARNING)
    assert "no date in column `Start` has a day above 12" in problem.message
    # The region the import (or the tenant) names decides it instead.
    american = SPREADSHEET_RULES.__class__(
        custom_fields=SPREADSHEET_RULES.custom_fields, named_region="US"
    )
    by_region = validate_row(SPREADSHEET_JOB, american, spreadsheet_row("", "", "03/04/2025"))
    assert by_region.candidate is not None
    assert by_region.candidate.custom_fields == {"start": "2025-03-04"}


async def test_the_upload_records_which_date_columns_tell_day_from_month(
    tmp_path: Path,
) -> None:
    recorded: dict[str, object] = {}

    class Recording(FakeImports):
        async def finish_upload(self, import_id: str, chunks: int, **dialect: object) -> None:
            recorded.update(dialect)

    lines = [
        "Vorname;Nachname;E-Mail;Marketing consent (yes/no);Umzug;Start",
        "A;B;a@x.org;ja;nein;03/04/2025",
        "C;D;c@x.org;nein;ja;2025-01-31",
        "E;F;e@x.org;ja;ja;31/12/2025",
    ]
    await imports_module.receive_file(
        cast(ImportRepository, Recording()),
        LocalUploadStore(tmp_path),
        SPREADSHEET_JOB,
        _body("\n".join(lines).encode()),
        Limits(),
    )
    assert recorded["date_columns"] == [
        ImportDateColumn(column="Start", day_first_example="31/12/2025")
    ]


def test_numbers_without_country_code_are_read_in_the_assumed_region_with_a_warning() -> None:
    tenant_de = ProfileRules(phone_region="DE", named_region="DE")
    result = validate_row(
        JOB,
        tenant_de,
        row(Phone="+351 21 123 4567; 030 1234567; 21 123 4567; 01.23.45.67.89; +44 20 7946 0018"),
    )
    assert result.candidate is not None
    # With a country code as given; without, read as German if German, else left out.
    assert result.candidate.phones == [
        "+351211234567",
        "+49301234567",
        "+49211234567",
        "+442079460018",
    ]
    assert [(p.field, p.severity, p.value, p.assumed_region) for p in result.problems] == [
        ("phones.1", WARNING, "030 1234567", "DE"),
        ("phones.2", WARNING, "21 123 4567", "DE"),
        ("phones.3", WARNING, "01.23.45.67.89", "DE"),
    ]
    read, lisbon, paris = (p.message for p in result.problems)
    assert "'030 1234567' has no country code and was read as a DE number, +49301234567" in read
    assert "the tenant's default phone region" in lisbon
    assert "not a valid DE number" in paris
    assert "left out" in paris


def test_the_imports_default_region_reads_its_national_numbers_without_a_warning() -> None:
    lisbon_fair = JOB.model_copy(update={"default_region": "PT"})
    rules = ProfileRules(phone_region="PT", named_region="PT")
    result = validate_row(lisbon_fair, rules, row(Phone="21 123 4567; 912 345 678; 01.23.45.67.89"))
    assert result.candidate is not None
    # The region the import names is the user's word for its numbers: no warning per number;
    # a number not valid there is still left out, with a warning.
    assert result.candidate.phones == ["+351211234567", "+351912345678"]
    [paris] = result.problems
    assert (paris.value, paris.assumed_region) == ("01.23.45.67.89", "PT")
    assert "PT: the import's default_region" in paris.message


def test_no_region_named_anywhere_says_the_platform_default_was_assumed() -> None:
    result = validate_row(JOB, ProfileRules(), row(Phone="(212) 555-0147"))
    assert result.candidate is not None
    assert result.candidate.phones == ["+12125550147"]
    assert result.problems[0].assumed_region == "US"
    assert "the platform default" in result.problems[0].message
