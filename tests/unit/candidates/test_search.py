"""The search's database shapes (flat, index-led) and the conditions it checks itself."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from crm_candidates.api.search import CandidateSort, decode_sort_cursor
from crm_candidates.domain.identity import place_query_words, place_words, query_tokens
from crm_candidates.domain.profile import SkillVocabulary
from crm_candidates.domain.search import SearchQuery, query_synonyms
from crm_candidates.repositories.candidates import (
    search_fields,
    search_filter,
    search_matches,
    seed_token,
    seed_tokens,
)
from crm_shared import ProblemError, encode_cursor

pytestmark = pytest.mark.unit


def query(**fields: Any) -> SearchQuery:
    defaults: dict[str, Any] = {
        "tokens": [],
        "tags": [],
        "skills": [],
        "source": None,
        "owner_id": None,
        "sort": "created_at",
        "after": None,
        "limit": 51,
    }
    return SearchQuery(**(defaults | fields))


def test_shapes_are_flat_and_carry_every_condition() -> None:
    one = search_filter(query(tokens=["lovelace"], source="referral"))
    assert one == {"status": "active", "search_tokens": "lovelace", "source": "referral"}
    # Several words: the longest is asked (an equality the index serves), the rest checked.
    assert seed_token(["ad", "lovelace", "eng"]) == "lovelace"
    assert seed_token(["ab", "cd"]) == "cd"  # ties: a stable choice
    keywords = search_filter(query(tokens=["ad", "lovelace"], tags=["x"]))
    assert keywords == {
        "status": "active",
        "search_tokens": "lovelace",
        "facets.tags": {"$all": ["x"]},
    }
    listing = search_filter(query(tags=["x"], skills=["go"], owner_id="rita"))
    assert listing == {
        "status": "active",
        "facets.tags": {"$all": ["x"]},
        "skills": {"$all": ["go"]},
        "owner_id": "rita",
    }
    for shape in (one, keywords, listing):
        assert not any(key.startswith("$") for key in shape)


def test_a_word_typed_with_an_umlaut_walks_a_token_both_spellings_hold() -> None:
    spelt = {"muller": "mueller", "ozil": "oezil"}
    # The beginning both spellings share; the walked token is an equality all the same.
    assert search_filter(query(tokens=["muller"], spellings=spelt))["search_tokens"] == "mu"
    # A word beginning with an umlaut: the key of its first letters.
    assert search_filter(query(tokens=["ozil"], spellings=spelt))["search_tokens"] == "~oz"
    assert seed_token(["ozil", "berlin"], spelt) == "berlin"
    assert seed_token(["muller", "jo"], spelt) == "mu"  # ties: a stable choice
    search = query(tokens=["muller"], spellings=spelt)
    for tokens, matches in ((["mueller"], True), (["muller"], True), (["miller"], False)):
        assert search_matches({"status": "active", "search_tokens": tokens}, search) is matches


def test_missing_consent_and_score_mean_none_and_zero_in_the_filter_too() -> None:
    assert search_filter(query(marketing_consent=False))["marketing_consent"] == {"$ne": True}
    assert search_filter(query(min_engagement=0.0))["engagement_score"] == {"$not": {"$lt": 0.0}}


def test_every_condition_is_checked_on_the_documents_read() -> None:
    document = {
        "_id": "c1",
        "status": "active",
        "search_tokens": ["ad", "ada", "lo", "lovelace"],
        "tags": ["X", "Y"],
        "facets": {"tags": ["x", "y"]},
        "skills": ["go"],
        "source": "referral",
        "owner_id": "rita",
    }
    full = query(
        tokens=["ada", "lo"], tags=["x"], skills=["go"], source="referral", owner_id="rita"
    )
    assert search_matches(document, full)
    assert not search_matches(document, query(tokens=["ada", "babbage"]))
    assert not search_matches(document, query(tags=["x", "z"]))
    assert not search_matches(document, query(skills=["rust"]))
    assert not search_matches(document, query(source="sourced"))
    assert not search_matches(document, query(owner_id="ada"))
    assert not search_matches(document | {"status": "merged"}, query())


def test_a_hand_made_cursor_without_an_offset_is_read_as_utc() -> None:
    cursor = encode_cursor(json.dumps(["updated_at", "2026-12-01T10:00:00", "c1"]))
    value, after_id = decode_sort_cursor(cursor, CandidateSort.UPDATED_AT)
    assert (value, after_id) == (datetime(2026, 12, 1, 10, 0, tzinfo=UTC), "c1")


def test_a_cursor_belongs_to_one_direction_of_its_order() -> None:
    cursor = encode_cursor(json.dumps(["-updated_at", "2026-12-01T10:00:00+00:00", "c1"]))
    value, _ = decode_sort_cursor(cursor, CandidateSort.RECENTLY_UPDATED_FIRST)
    assert value == datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    with pytest.raises(ProblemError):
        decode_sort_cursor(cursor, CandidateSort.UPDATED_AT)


def test_location_pool_segment_consent_and_engagement_filter_in_both_places() -> None:
    search = query(
        location=["berlin"],
        pool_id="p1",
        stage="Screen",
        segment_id="s1",
        marketing_consent=True,
        min_engagement=2.5,
    )
    assert search_filter(search) == {
        "status": "active",
        "location_words": "berlin",
        "pools": {"$elemMatch": {"pool_id": "p1", "stage": "Screen"}},
        "segment_ids": "s1",
        "marketing_consent": True,
        "engagement_score": {"$gte": 2.5},
    }
    assert search_filter(query(pool_id="p1"))["pools"] == {"$elemMatch": {"pool_id": "p1"}}
    held = {
        "_id": "c1",
        "status": "active",
        "location_words": ["berlin", "germany"],
        "pools": [{"pool_id": "p0", "stage": "Screen"}, {"pool_id": "p1", "stage": "Screen"}],
        "segment_ids": ["s0", "s1"],
        "marketing_consent": True,
        "engagement_score": 2.5,
    }
    assert search_matches(held, search)
    assert search_matches(held, query(tokens=[], pool_id="p1"))
    changes: list[dict[str, Any]] = [
        {"location_words": ["munich"]},
        {"location_words": []},
        {"pools": [{"pool_id": "p1", "stage": "New"}]},
        {"pools": [{"pool_id": "p2", "stage": "Screen"}]},
        {"segment_ids": ["s0"]},
        {"marketing_consent": False},
        {"engagement_score": 2.49},
        {"engagement_score": None},
    ]
    for change in changes:
        assert not search_matches(held | change, search), change
    assert search_matches(held | {"marketing_consent": False}, query(marketing_consent=False))


VOCABULARY = SkillVocabulary.build(
    [
        ("JavaScript", ["JS", "ECMAScript"]),
        ("Kubernetes", ["k8s"]),
        ("Go", ["golang"]),
        ("Node.js", ["node"]),
        ("Apache Spark", ["spark"]),
        ("Python", ["py3"]),
        ("Résumé writing", []),
        ("C#", ["csharp"]),
    ]
)


def test_a_query_word_spelling_a_vocabulary_skill_also_means_its_canonical_words() -> None:
    found = query_synonyms(query_tokens("JS k8s Golang ecmascript berlin"), VOCABULARY)
    assert found == {
        "js": (("javascript",),),
        "k8s": (("kubernetes",),),
        "golang": (("go",),),
        "ecmascript": (("javascript",),),
    }
    # Compared as the vocabulary compares spellings, folded as search words are.
    assert query_synonyms(["nodejs"], VOCABULARY) == {"nodejs": (("node", "js"),)}
    assert query_synonyms(["csharp"], VOCABULARY) == {"csharp": (("c#",),)}
    assert query_synonyms(["resumewriting"], VOCABULARY) == {
        "resumewriting": (("resume", "writing"),)
    }
    # The typed word already finds every holder: a word of the skill or its beginning.
    assert query_synonyms(["javascript", "spark", "py", "kube", "go"], VOCABULARY) == {}
    # `py3` is a synonym of python, which `py3` is no beginning of.
    assert query_synonyms(["py3"], VOCABULARY) == {"py3": (("python",),)}
    # Prefixes of a synonym are not synonyms; no vocabulary, no synonyms.
    assert query_synonyms(["k8"], VOCABULARY) == {}
    assert query_synonyms(["js"], SkillVocabulary()) == {}


def test_folding_can_make_one_word_of_two_skills_it_then_means_either() -> None:
    vocabulary = SkillVocabulary.build([("Résumé", []), ("Resume", ["cv"]), ("Deutsch", [])])
    assert vocabulary.canonicals_of_word("resume") == ("résumé", "resume")
    assert query_synonyms(["cv"], vocabulary) == {"cv": (("resume",),)}


def test_a_synonym_alone_is_walked_for_each_of_the_few_tokens_its_matches_hold() -> None:
    js = query(tokens=["js"], synonyms={"js": (("javascript",),)}, source="event")
    assert seed_tokens(js) == ["javascript", "js"]
    # One flat walk per value, each an equality the token index serves (no `$in`).
    assert search_filter(js, "js") == {"status": "active", "search_tokens": "js", "source": "event"}
    node = query(tokens=["nodejs"], synonyms={"nodejs": (("node", "js"),)})
    assert seed_tokens(node) == ["node", "nodejs"]  # the canonical's longest word
    # With another word, that word is walked (an equality) and the synonym checked.
    both = query(tokens=["js", "ber"], synonyms={"js": (("javascript",),)})
    assert search_filter(both)["search_tokens"] == "ber"
    # Two synonyms: the one with the fewest values, then the longest.
    two = query(
        tokens=["js", "k8s"],
        synonyms={"js": (("javascript",),), "k8s": (("kubernetes",),)},
    )
    assert seed_tokens(two) == ["k8s", "kubernetes"]


def test_a_synonym_matches_the_typed_word_or_every_canonical_word_as_a_whole_word() -> None:
    search = query(tokens=["golang", "jo"], synonyms={"golang": (("go",),)})

    def record(**fields: Any) -> dict[str, Any]:
        document = {"status": "active", "first_name": "Jo", "last_name": "Doe"} | fields
        return document | search_fields(document)

    assert search_matches(record(skills=["go"]), search)
    assert search_matches(record(current_title="Golang developer"), search)
    assert search_matches(record(current_title="Go developer"), search)
    # `go` as a beginning is not the skill: `golang` does not find everyone at Google.
    assert not search_matches(record(current_company="Google"), search)
    assert not search_matches(record(skills=["go"], first_name="Ada"), search)  # `jo` too
    node = query(tokens=["nodejs"], synonyms={"nodejs": (("node", "js"),)})
    assert search_matches(record(skills=["node.js"]), node)
    assert not search_matches(record(skills=["node"]), node)


def test_a_location_filter_matches_the_places_words_accents_and_umlauts_ignored() -> None:
    """`montreal` finds Montréal, `berlin` a record in "Berlin, Germany", `München` and
    `muenchen` a record of either spelling; every typed word must be in the place."""
    stored = {
        "Montréal, QC": place_words("Montréal, QC"),
        "Berlin, Germany": place_words("Berlin, Germany"),
        "München": place_words("München"),
        "Muenchen": place_words("Muenchen"),
    }
    assert stored["München"] == ["muenchen", "munchen"]

    def found(typed: str) -> list[str]:
        search = query(tokens=[], location=place_query_words(typed))
        return [
            place
            for place, words in stored.items()
            if search_matches({"status": "active", "location_words": words}, search)
        ]

    assert found("montreal") == ["Montréal, QC"]
    assert found("MONTRÉAL") == ["Montréal, QC"]
    assert found("berlin") == ["Berlin, Germany"]
    assert found("Germany, Berlin") == ["Berlin, Germany"]
    assert found("Berlin, Poland") == []
    assert found("München") == ["München", "Muenchen"]
    assert found("muenchen") == ["München", "Muenchen"]
    assert (
        search_filter(query(tokens=[], location=place_query_words("Berlin, Germany")))[
            "location_words"
        ]
        == "germany"
    )  # the longest word walks the index
