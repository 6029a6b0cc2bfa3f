"""Identity keys, fuzzy likeness, search tokens and merge rules as pure functions."""

from __future__ import annotations

import random
import string
import unicodedata
from collections.abc import AsyncIterator

import pytest

from crm_candidates.domain.csv_import import (
    CsvFormatError,
    column_of,
    csv_records,
    mapping_errors,
    row_fields,
)
from crm_candidates.domain.identity import (
    PersonSketch,
    block_keys,
    canonical_profile_url,
    identity_keys,
    likeness,
    query_spellings,
    query_tokens,
    search_tokens,
    someone_else_on_a_shared_phone,
    soundex,
    term_seed,
)
from crm_candidates.domain.merging import FieldChoice, MergeChoiceError, merge_profiles
from crm_candidates.domain.models import Candidate, CandidateSource
from crm_shared.text import fold

pytestmark = pytest.mark.unit


def test_identity_keys_ignore_case_spacing_and_formatting() -> None:
    one = identity_keys(
        [" Ada@Example.ORG "], ["+49 (151) 123-4567"], ["https://www.LinkedIn.com/in/Ada/?trk=1"]
    )
    other = identity_keys(["ada@example.org"], ["49151 1234567"], ["linkedin.com/in/ada"])
    assert (
        one
        == other
        == [
            "email:ada@example.org",
            "phone:491511234567",
            "url:linkedin.com/in/ada",
        ]
    )


def test_identifiers_too_vague_to_tell_people_apart_give_no_key() -> None:
    assert identity_keys([], ["12-34"], ["not a url", ""]) == []
    assert canonical_profile_url("https://localhost/x") is None


def test_identity_keys_are_unique_and_ordered_emails_first() -> None:
    keys = identity_keys(["a@x.org", "A@x.org"], ["0151 1234567"], [])
    assert keys == ["email:a@x.org", "phone:01511234567"]


def test_fold_removes_accents_case_and_extra_spaces() -> None:
    assert fold("  Zoë   MÜLLER-Straße ") == "zoe muller-strasse"


@pytest.mark.parametrize(
    ("written", "typed"),
    [
        ("Łukasz Łukasiewicz", "lukasz lukasiewicz"),
        ("Żółć", "zolc"),
        ("Sørensen", "sorensen"),
        ("Ægir Æbeltoft", "aegir aebeltoft"),
        ("Þórsson", "thorsson"),
        ("Guðmundsdóttir", "gudmundsdottir"),
        ("Đorđević", "dordevic"),
        ("Œuvre", "oeuvre"),
    ],
)
def test_fold_spells_letters_without_a_combining_mark_as_a_plain_keyboard_does(
    written: str, typed: str
) -> None:
    assert fold(written) == typed


@pytest.mark.parametrize(
    ("word", "code"),
    [("Robert", "R163"), ("Rupert", "R163"), ("Tymczak", "T522"), ("Pfister", "P236")],
)
def test_soundex_codes(word: str, code: str) -> None:
    assert soundex(word) == code


def test_block_keys_bring_a_doubled_letter_typo_together() -> None:
    assert set(block_keys("Kim")) & set(block_keys("Kiim"))
    assert set(block_keys("Müller")) & set(block_keys("Mueller")) or set(
        block_keys("Müller")
    ) & set(block_keys("Muller"))
    assert not set(block_keys("Smith")) & set(block_keys("Olsen"))


def test_same_name_and_company_scores_high_with_its_reason() -> None:
    alike = likeness(
        PersonSketch("Ada", "Lovelace", company="Analytical Engines"),
        PersonSketch("ada", "LOVELACE", company="analytical engines"),
    )
    assert alike is not None
    assert alike.score == 100.0
    assert alike.reason == "same name, same company"
    assert alike.evidence == 2
    # Alike in company and location too: the same score, more evidence (listed first).
    both = likeness(
        PersonSketch("Ada", "Lovelace", company="Analytical Engines", location="London"),
        PersonSketch("Ada", "Lovelace", company="Analytical Engines", location="london"),
    )
    assert both is not None
    assert (both.score, both.evidence) == (100.0, 3)


def test_similar_name_and_same_location() -> None:
    alike = likeness(
        PersonSketch("Grace", "Hopper", company="Navy", location="Arlington"),
        PersonSketch("Grace", "Hoppper", company="Univac", location="arlington"),
    )
    assert alike is not None
    assert alike.reason == "similar name, same location"
    assert 90 <= alike.score < 100


def test_a_name_alone_is_weak_evidence_and_different_names_are_nothing() -> None:
    alone = likeness(PersonSketch("Alan", "Turing"), PersonSketch("Alan", "Turing"))
    assert alone is not None
    assert alone.reason == "same name"
    assert alone.score == 60.0
    assert likeness(PersonSketch("Alan", "Turing"), PersonSketch("Ada", "Lovelace")) is None


def test_search_tokens_hold_words_and_prefixes_folded() -> None:
    tokens = search_tokens(["Zoë Müller", "Senior Engineer", None, "C++"])
    assert {"zoe", "zo", "muller", "mu", "senior", "engineer", "eng", "c++"} <= set(tokens)
    assert query_tokens("  ENGIN  zoë ") == ["engin", "zoe"]


def test_a_german_name_is_found_with_its_umlauts_spelt_out_or_dropped() -> None:
    # Composed and decomposed (as macOS writes it) alike.
    tokens = set(search_tokens(["Jörg Müller", "Ba\u0308cker GmbH"]))
    for query in ("mueller", "muller", "müller", "joerg", "jorg", "baecker", "backer", "mue"):
        assert set(query_tokens(query)) <= tokens, query


def test_a_query_word_typed_with_an_umlaut_has_its_spelt_out_spelling() -> None:
    assert query_spellings("Jörg Mu\u0308ller, Straße") == {"jorg": "joerg", "muller": "mueller"}
    assert query_spellings("Mueller Mull") == {}
    assert query_spellings("ö") == {}  # one letter: as typed
    assert query_spellings("Muller müller") == {}  # also typed plain: must match plain
    assert query_spellings("Özil") == {"ozil": "oezil"}


def test_words_beginning_with_a_o_u_hold_the_key_an_umlaut_query_walks() -> None:
    for name in ("Özil", "Oezil", "Ozil", "Özdemir"):
        assert "~oz" in search_tokens([name]), name
    assert term_seed("ozil", "oezil") == "~oz"
    assert term_seed("ubel", "uebel") == "~ub"
    assert term_seed("muller", "mueller") == "mu"
    assert not any(t.startswith("~") for t in search_tokens(["Müller Berlin"]))


def test_a_name_with_an_apostrophe_is_found_with_or_without_it() -> None:
    tokens = set(search_tokens(["Siobhán O'Connor", "D\u2019Angelo"]))
    for query in ("oconnor", "o connor", "connor", "O'Connor", "dangelo", "angelo", "siobhan"):
        assert set(query_tokens(query)) <= tokens, query


@pytest.mark.parametrize(
    ("name", "queries"),
    [
        ("Νίκος Παπαδόπουλος", ("Παπαδόπουλος", "παπαδοπουλος", "ΠΑΠΑΔ", "νικος")),
        ("Иван Петров", ("Петров", "петр", "иван петров")),
        ("王 小明", ("王", "小明")),
        ("प्रिया शर्मा", ("प्रिया", "शर्मा")),
        ("Łukasz Żółć", ("lukasz", "zolc", "Żółć")),
    ],
)
def test_names_in_any_script_are_found_by_their_words(name: str, queries: tuple[str, ...]) -> None:
    tokens = set(search_tokens([name]))
    for query in queries:
        words = query_tokens(query)
        assert words, query
        assert set(words) <= tokens, query


def test_signs_make_no_word_and_underscores_separate() -> None:
    assert query_tokens("😀 - … ·") == []
    assert query_tokens("data_engineer c++ c#") == ["data", "engineer", "c++", "c#"]


def _person(person_id: str, **fields: object) -> Candidate:
    values: dict[str, object] = {
        "id": person_id,
        "tenant_id": "t",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "emails": [f"{person_id}@example.org"],
        "created_by": "u",
    }
    return Candidate.model_validate(values | fields)


def test_merge_unites_lists_keeps_survivor_scalars_and_records_every_origin() -> None:
    survivor = _person(
        "s", skills=["python"], current_company=None, location="London", source="sourced"
    )
    merged = _person(
        "m",
        skills=["python", "maths"],
        current_company="Engines Ltd",
        location="Paris",
        source=CandidateSource.REFERRAL,
        custom_fields={"level": "senior"} if "custom_fields" in Candidate.model_fields else {},
    )
    fields, provenance = merge_profiles(survivor, merged, {"location": FieldChoice.MERGED})
    assert fields["emails"] == ["s@example.org", "m@example.org"]
    assert fields["skills"] == ["python", "maths"]
    assert fields["current_company"] == "Engines Ltd"  # the survivor had none
    assert fields["location"] == "Paris"  # chosen
    assert provenance["emails"] == [
        {"value": "s@example.org", "candidate_id": "s", "source": "sourced"},
        {"value": "m@example.org", "candidate_id": "m", "source": "referral"},
    ]
    assert provenance["location"] == [{"value": "Paris", "candidate_id": "m", "source": "referral"}]
    assert provenance["first_name"][0]["candidate_id"] == "s"


def test_a_value_from_an_earlier_merge_keeps_its_first_origin() -> None:
    earlier = {"emails": [{"value": "old@example.org", "candidate_id": "x", "source": "event"}]}
    survivor = _person("s", emails=["s@example.org", "old@example.org"], provenance=earlier)
    _, provenance = merge_profiles(survivor, _person("m"), {})
    assert provenance["emails"][1] == {
        "value": "old@example.org",
        "candidate_id": "x",
        "source": "event",
    }


def test_choices_name_mergeable_fields_and_union_only_collections() -> None:
    with pytest.raises(MergeChoiceError) as invalid:
        merge_profiles(
            _person("s"),
            _person("m"),
            {"salary": FieldChoice.MERGED, "first_name": FieldChoice.UNION},
        )
    assert [path for path, _ in invalid.value.errors] == ["choices.salary", "choices.first_name"]
    # Every list and dictionary field can be united, a required one (emails) too.
    profile, _ = merge_profiles(
        _person("s"),
        _person("m"),
        {"emails": FieldChoice.UNION, "custom_fields": FieldChoice.UNION},
    )
    assert profile["emails"] == ["s@example.org", "m@example.org"]


async def _records(pieces: list[bytes]) -> list[list[str]]:
    async def stream() -> AsyncIterator[bytes]:
        for piece in pieces:
            yield piece

    return [record async for record in csv_records(stream())]


async def test_csv_records_survive_any_cut_of_the_byte_stream() -> None:
    text = 'a,b\r\n"x, ""y""","line\nbreak"\r\nzoë,é\n'.encode()
    expected = [["a", "b"], ['x, "y"', "line\nbreak"], ["zoë", "é"]]
    for cut in range(1, len(text)):
        assert await _records([text[:cut], text[cut:]]) == expected, cut
    assert await _records([bytes([b]) for b in text]) == expected


async def test_csv_records_refuse_broken_files() -> None:
    with pytest.raises(CsvFormatError, match="never closed"):
        await _records([b'a,"b\n'])
    # Invalid UTF-8 after the first 64 KiB (which decided UTF-8) cannot be read.
    with pytest.raises(CsvFormatError, match="not utf-8 text"):
        await _records([b"a,b\n" + b"x,y\n" * 20_000, b"a,\xff\n"])


def test_row_fields_split_lists_and_read_booleans() -> None:
    targets = [
        ("Mail", "emails"),
        ("Mail 2", "emails"),
        ("Skills", "skills"),
        ("Opt-in", "marketing_consent"),
        ("Level", "custom_fields.level"),
        ("First", "first_name"),
    ]
    fields = row_fields(targets, ["a@x.org", "b@x.org", "go; rust|sql", "Yes", "senior", " "])
    assert fields == {
        "emails": ["a@x.org", "b@x.org"],
        "skills": ["go", "rust", "sql"],
        "marketing_consent": True,
        "custom_fields": {"level": "senior"},
    }
    assert column_of(targets, "emails.1") == "Mail"
    assert column_of(targets, "custom_fields.level") == "Level"
    assert mapping_errors({"Name": "first_name", "X": "salary"}) == [
        ("mapping.X", mapping_errors({"X": "salary"})[0][1]),
        ("mapping", "no column is mapped to last_name"),
        ("mapping", "no column is mapped to emails"),
    ]


@pytest.mark.parametrize(
    ("survivor_name", "merged_name", "kept"),
    [
        ("Zoe", "Zoë", "Zoë"),
        ("zoë", "Zoë", "Zoë"),
        ("SØREN", "Søren", "Søren"),
        ("Soren", "Søren", "Søren"),
        ("Zoë", "zoe", "Zoë"),
        ("Ada", "Grace", "Ada"),  # not the same name: the survivor's stays
    ],
)
def test_a_merge_keeps_the_better_written_spelling_of_one_value(
    survivor_name: str, merged_name: str, kept: str
) -> None:
    survivor = _person("s", first_name=survivor_name, current_company="muller gmbh")
    merged = _person("m", first_name=merged_name, current_company="Müller GmbH")
    fields, provenance = merge_profiles(survivor, merged, {})
    assert fields["first_name"] == kept
    assert provenance["first_name"][0]["candidate_id"] == ("s" if kept == survivor_name else "m")
    assert fields["current_company"] == "Müller GmbH"
    chosen, _ = merge_profiles(survivor, merged, {"current_company": FieldChoice.SURVIVOR})
    assert chosen["current_company"] == "muller gmbh"  # an explicit choice wins


def test_folding_plain_ascii_takes_a_shortcut_to_the_same_words() -> None:
    rng = random.Random(7)
    for _ in range(2000):
        text = "".join(rng.choice(string.printable) for _ in range(rng.randint(0, 30)))
        # The full fold: no letter to respell, no mark to drop, casefold is lower in ASCII.
        decomposed = unicodedata.normalize("NFKD", text)
        marks_dropped = "".join(c for c in decomposed if not unicodedata.combining(c))
        assert fold(text) == " ".join(marks_dropped.casefold().split()), text
    assert fold("  Ada\tLOVELACE-Byron ") == "ada lovelace-byron"


def test_a_record_found_by_a_shared_phone_alone_is_someone_else_s_only_when_all_differs() -> None:
    jose = ("José", "Müller")
    others = ["jose@example.de"]
    # Another name and another address: a family's or an office's number.
    assert someone_else_on_a_shared_phone(
        {"phone"}, ["juergen@example.de"], others, ("Jürgen", "Groß"), jose
    )
    # The same person with a new address (the name alike, accents and spelling aside).
    assert not someone_else_on_a_shared_phone(
        {"phone"}, ["jose@work.example"], others, ("Jose", "Mueller"), jose
    )
    # Nothing to tell them apart by, or found by more than the number: the same person.
    assert not someone_else_on_a_shared_phone({"phone"}, [], others, ("Jürgen", "Groß"), jose)
    assert not someone_else_on_a_shared_phone(
        {"phone"}, ["juergen@example.de"], [], ("Jürgen", "Groß"), jose
    )
    assert not someone_else_on_a_shared_phone(
        {"phone", "url"}, ["juergen@example.de"], others, ("Jürgen", "Groß"), jose
    )
