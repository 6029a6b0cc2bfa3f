"""Normalisation of profile fields: phones, URLs, time zones, locales, skills, custom fields."""

from __future__ import annotations

from typing import Any

import pytest

from crm_candidates.domain.custom_fields import (
    CustomFieldDefinition,
    CustomFieldType,
    validate_custom_fields,
)
from crm_candidates.domain.models import PoolPlacement, ProfileError
from crm_candidates.domain.pools import Pool, UnknownStageError, placed, resolve_stage
from crm_candidates.domain.profile import (
    ProfileRules,
    SkillVocabulary,
    canonical_profile_url,
    changed_tags,
    normalise_locale,
    normalise_phone,
    normalise_profile_fields,
    profile_locale,
    read_phone,
)
from crm_shared import valid_time_zone

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("(415) 555-0100", "US", "+14155550100"),
        ("415.555.0100", "US", "+14155550100"),
        ("+1 415 555 0100", "DE", "+14155550100"),
        ("030 12345678", "DE", "+493012345678"),
        ("0151 2345 6789", "DE", "+4915123456789"),
        ("+49 (0)30 12345678", "US", "+493012345678"),
        ("020 7946 0958", "GB", "+442079460958"),
        ("06 12 34 56 78", "FR", "+33612345678"),
        ("0044 20 7946 0958", "DE", "+442079460958"),
        ("+44 20 7946 0958", "gb", "+442079460958"),
    ],
)
def test_phones_in_national_and_international_formats_become_e164(
    raw: str, region: str, e164: str
) -> None:
    assert normalise_phone(raw, region) == e164


@pytest.mark.parametrize("raw", ["call me", "12", "0151 2345 6789 999 999 999", "+999 1234"])
def test_text_that_is_no_possible_phone_number_is_refused(raw: str) -> None:
    with pytest.raises(ValueError, match="phone number"):
        normalise_phone(raw, "DE")


def test_a_number_with_its_country_code_is_not_told_to_give_one() -> None:
    with pytest.raises(ValueError, match=r"digits after the country code \+45$"):
        normalise_phone("+45 20 21649 12", "DE")
    with pytest.raises(ValueError, match=r"national numbers are read as DE; give the country"):
        normalise_phone("030 12", "DE")


@pytest.mark.parametrize(
    ("raw", "region", "number"),
    [
        ("+351 21 123 4567", "DE", "+351211234567"),  # Lisbon, with its country code
        ("00351 21 123 4567", "DE", "+351211234567"),  # ... written with the 00 prefix
        ("+33 1.23.45.67.89", "DE", "+33123456789"),  # Paris, dots
        ("+33 (0)1 23 45 67 89", "DE", "+33123456789"),
        ("+44 20 7946 0018", "DE", "+442079460018"),  # London
        ("+49.30.1234567", "PT", "+49301234567"),  # Berlin, dots
    ],
)
def test_an_imported_number_with_its_country_code_assumes_no_region(
    raw: str, region: str, number: str
) -> None:
    reading = read_phone(raw, region)
    assert (reading.number, reading.assumed_region, reading.as_typed) == (number, None, False)


@pytest.mark.parametrize(
    ("raw", "region", "number"),
    [
        ("21 123 4567", "PT", "+351211234567"),  # Lisbon, in Portugal
        ("912 345 678", "PT", "+351912345678"),  # a Portuguese mobile
        ("01.23.45.67.89", "FR", "+33123456789"),  # Paris, dots
        ("06 12 34 56 78", "FR", "+33612345678"),
        ("020 7946 0018", "GB", "+442079460018"),  # London
        ("07911 123456", "gb", "+447911123456"),
        ("030 1234567", "DE", "+49301234567"),  # Berlin
        ("0151.2345.6789", "DE", "+4915123456789"),
        # The trouble: a Lisbon number is also a valid Düsseldorf one. Only the region tells,
        # so the reading says which region it assumed.
        ("21 123 4567", "DE", "+49211234567"),
    ],
)
def test_an_imported_national_number_valid_in_the_region_is_read_there_and_says_so(
    raw: str, region: str, number: str
) -> None:
    reading = read_phone(raw, region)
    assert (reading.number, reading.assumed_region, reading.as_typed) == (
        number,
        region.upper(),
        False,
    )


@pytest.mark.parametrize(
    ("raw", "region"),
    [
        ("01.23.45.67.89", "DE"),  # Paris read as German: no such German number
        ("020 7946 0018", "DE"),  # London read as German
        ("0151 2345678", "DE"),  # a German mobile one digit short
    ],
)
def test_an_imported_national_number_not_valid_in_the_region_is_kept_as_typed(
    raw: str, region: str
) -> None:
    reading = read_phone(raw, region)
    assert (reading.number, reading.assumed_region, reading.as_typed) == (raw, region, True)
    # The API's normalisation would have made it an E.164 number of that region.
    assert normalise_phone(raw, region).startswith("+49")


@pytest.mark.parametrize("raw", ["12", "call me", "0" * 17])
def test_an_imported_phone_that_is_no_number_is_still_refused(raw: str) -> None:
    with pytest.raises(ValueError, match="phone number"):
        read_phone(raw, "DE")


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        (
            "http://www.LinkedIn.com/in/Ada-Lovelace/?utm_source=share&trk=x",
            "https://linkedin.com/in/ada-lovelace",
        ),
        ("linkedin.com/in/ada-lovelace/details/skills/", "https://linkedin.com/in/ada-lovelace"),
        ("https://de.linkedin.com/in/ada-lovelace", "https://de.linkedin.com/in/ada-lovelace"),
        ("https://github.com/AdaL/analytical-engine/", "https://github.com/adal"),
        ("https://mobile.twitter.com/ada?ref_src=twsrc", "https://x.com/ada"),
        (
            "https://www.ada.dev/blog/?page=2&utm_campaign=x#top",
            "https://ada.dev/blog?page=2",
        ),
        ("HTTPS://Ada.Dev:443/", "https://ada.dev"),
        ("https://stackoverflow.com/users/12345/ada", "https://stackoverflow.com/users/12345"),
    ],
)
def test_profile_urls_are_canonical(raw: str, canonical: str) -> None:
    assert canonical_profile_url(raw) == canonical


@pytest.mark.parametrize("raw", ["ftp://ada.dev/x", "not a url", "https://", "mailto:ada@x.org"])
def test_text_that_is_no_web_address_is_refused(raw: str) -> None:
    with pytest.raises(ValueError, match="web address"):
        canonical_profile_url(raw)


def test_time_zones_must_be_iana_names() -> None:
    assert valid_time_zone(" Europe/Berlin ") == "Europe/Berlin"
    for bad in ("Mars/Olympus", "CEST", "../../etc/passwd", "europe/berlin"):
        with pytest.raises(ValueError, match="IANA"):
            valid_time_zone(bad)


def test_locales_are_language_tags_in_their_usual_case() -> None:
    assert normalise_locale("EN") == "en"
    assert normalise_locale("pt_br") == "pt-BR"
    assert normalise_locale("zh-hant-tw") == "zh-Hant-TW"
    with pytest.raises(ValueError, match="language tag"):
        normalise_locale("english please")


JAVASCRIPT_AND_NODE = SkillVocabulary.build(
    [("JavaScript", ["JS", "ECMAScript"]), ("Node.js", ["node"]), ("C++", ["cpp"])]
)


def test_skill_synonyms_map_to_the_canonical_skill() -> None:
    skills = [
        "JS",
        "javascript",
        "Java Script",
        "NodeJS",
        "node",
        "cpp",
        "Rust",
        " Machine  Learning",
    ]
    assert JAVASCRIPT_AND_NODE.normalise(skills) == [
        "javascript",
        "node.js",
        "c++",
        "rust",
        "machine learning",
    ]


def test_a_spelling_can_belong_to_one_canonical_skill_only() -> None:
    with pytest.raises(ProfileError) as clash:
        SkillVocabulary.build([("JavaScript", ["JS"]), ("JSON", ["js"]), ("Go", ["", "golang"])])
    assert [path for path, _ in clash.value.errors] == [
        "skills.1.synonyms.0",
        "skills.2.synonyms.0",
    ]


def definition(key: str, kind: CustomFieldType, **extra: Any) -> CustomFieldDefinition:
    return CustomFieldDefinition(
        tenant_id="t", key=key, label=key.title(), type=kind, created_by="u", **extra
    )


SCHEMA = {
    d.key: d
    for d in (
        definition("notice_weeks", CustomFieldType.NUMBER),
        definition("clearance", CustomFieldType.BOOLEAN),
        definition("available_from", CustomFieldType.DATE),
        definition("nickname", CustomFieldType.STRING),
        definition(
            "level", CustomFieldType.ENUM, required=True, allowed_values=["Junior", "Senior"]
        ),
        definition("langs", CustomFieldType.MULTI_ENUM, allowed_values=["de", "en", "fr"]),
    )
}


def test_custom_field_values_are_checked_and_stored_in_the_schemas_form() -> None:
    values = {
        "notice_weeks": 4,
        "clearance": True,
        "available_from": "2026-01-05",
        "nickname": "  Ada ",
        "level": "senior",
        "langs": ["EN", "de", "en"],
    }
    assert validate_custom_fields(values, SCHEMA) == {
        "notice_weeks": 4,
        "clearance": True,
        "available_from": "2026-01-05",
        "nickname": "Ada",
        "level": "Senior",
        "langs": ["en", "de"],
    }


def test_every_bad_custom_value_is_named_by_its_key() -> None:
    values = {
        "notice_weeks": "four",
        "clearance": "yes",
        "available_from": "05/01/2026",
        "langs": ["es"],
        "salary": 1,
    }
    with pytest.raises(ProfileError) as invalid:
        validate_custom_fields(values, SCHEMA)
    assert sorted(path for path, _ in invalid.value.errors) == [
        "custom_fields.available_from",
        "custom_fields.clearance",
        "custom_fields.langs",
        "custom_fields.level",  # required, missing
        "custom_fields.notice_weeks",
        "custom_fields.salary",  # not defined
    ]


def test_a_number_field_refuses_booleans() -> None:
    with pytest.raises(ProfileError):
        validate_custom_fields({"notice_weeks": True, "level": "Junior"}, SCHEMA)


def test_choice_fields_need_allowed_values_and_others_refuse_them() -> None:
    with pytest.raises(ValueError, match="allowed_values"):
        definition("level", CustomFieldType.ENUM)
    with pytest.raises(ValueError, match="allowed_values"):
        definition("nickname", CustomFieldType.STRING, allowed_values=["x"])


def test_a_change_merges_custom_values_and_a_null_removes_one() -> None:
    rules = ProfileRules(custom_fields=SCHEMA)
    changed = normalise_profile_fields(
        {"custom_fields": {"nickname": None, "clearance": False}},
        rules,
        current_custom_fields={"level": "Junior", "nickname": "Ada"},
    )
    assert changed["custom_fields"] == {"level": "Junior", "clearance": False}


def test_profile_fields_report_every_bad_field_by_path() -> None:
    with pytest.raises(ProfileError) as invalid:
        normalise_profile_fields(
            {
                "phones": ["+49 30 12345678", "nonsense"],
                "profile_urls": ["github.com/ada", "::"],
                "time_zone": "Berlin",
                "locale": "??",
            },
            ProfileRules(phone_region="DE"),
        )
    assert [path for path, _ in invalid.value.errors] == [
        "phones.1",
        "profile_urls.1",
        "time_zone",
        "locale",
    ]


def test_messy_profile_fields_come_out_canonical() -> None:
    fields = normalise_profile_fields(
        {
            "emails": [" Ada@Example.ORG", "ada@example.org"],
            "phones": ["030 12345678", "+49 30 1234 5678"],
            "skills": ["JS", "javascript"],
            "headline": "  Engineer   of  engines ",
            "location": "   ",
            "desired_roles": [" Staff  Engineer", "Staff Engineer"],
        },
        ProfileRules(phone_region="DE", vocabulary=JAVASCRIPT_AND_NODE),
    )
    assert fields == {
        "emails": ["ada@example.org"],
        "phones": ["+493012345678"],
        "skills": ["javascript"],
        "headline": "Engineer of engines",
        "location": None,
        "desired_roles": ["Staff Engineer"],
    }


def test_tags_are_added_and_removed_ignoring_case() -> None:
    assert changed_tags(["VIP", "alumni"], add=["Hot", "vip"], remove=["ALUMNI"]) == ["VIP", "Hot"]


POOL = Pool(
    tenant_id="t", name="Backend", stages=["Sourced", "Contacted"], owner_ids=["u"], created_by="u"
)


def test_stages_resolve_ignoring_case_and_default_to_the_first() -> None:
    assert resolve_stage(POOL, None) == "Sourced"
    assert resolve_stage(POOL, " contacted ") == "Contacted"
    with pytest.raises(UnknownStageError):
        resolve_stage(POOL, "Hired")


def test_placements_keep_one_entry_per_pool() -> None:
    start = [PoolPlacement(pool_id="a", stage="x"), PoolPlacement(pool_id="b", stage="y")]
    assert placed(start, "a", "z") == [
        PoolPlacement(pool_id="b", stage="y"),
        PoolPlacement(pool_id="a", stage="z"),
    ]
    assert placed(start, "a", None) == [PoolPlacement(pool_id="b", stage="y")]


def test_a_locale_from_outside_is_kept_only_as_a_language_tag() -> None:
    assert profile_locale("fr_ch") == "fr-CH"
    assert profile_locale("zh-hant-tw") == "zh-Hant-TW"
    assert profile_locale(None) is None
    assert profile_locale("<script>") is None
