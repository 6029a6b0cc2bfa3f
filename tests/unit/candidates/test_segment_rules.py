"""Segment rules: validation paths, the compiled query and the in-memory evaluator per operator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from crm_candidates.domain.pools import Pool
from crm_candidates.domain.segments import (
    Group,
    ReferenceGraph,
    RuleError,
    candidate_facets,
    compile_rule,
    compile_segment_query,
    is_time_dependent,
    next_change_at,
    parse_relative,
    parse_rule,
    reference_paths,
    reference_problems,
    referenced_segments,
    rule_matches,
    segment_matches,
    time_dependent_segments,
    unknown_pool_stages,
)

pytestmark = pytest.mark.unit

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)


def rule_of(*conditions: dict[str, Any]) -> Group:
    return parse_rule({"all": list(conditions)})


def facets(**fields: Any) -> dict[str, Any]:
    return candidate_facets(fields)


def matches(condition: dict[str, Any], **fields: Any) -> bool:
    return rule_matches(rule_of(condition), facets(**fields), now=NOW)


def bad_paths(raw: Any) -> list[str]:
    with pytest.raises(RuleError) as invalid:
        parse_rule(raw)
    return [path for path, _ in invalid.value.errors]


# --- validation: every invalid condition names its path -------------------------------------


@pytest.mark.parametrize(
    ("condition", "path"),
    [
        ({"field": "salary", "op": "equals", "value": "1"}, "rule.all.0"),
        ({"field": "skills", "op": "equals"}, "rule.all.0"),
        ({"field": "skills", "op": "range", "value": {"gte": 1}}, "rule.all.0"),
        ({"field": "engagement_score", "op": "equals", "value": "high"}, "rule.all.0"),
        ({"field": "engagement_score", "op": "equals", "value": True}, "rule.all.0"),
        ({"field": "engagement_score", "op": "range", "value": {}}, "rule.all.0"),
        ({"field": "engagement_score", "op": "range", "value": {"gte": "x"}}, "rule.all.0"),
        ({"field": "engagement_score", "op": "range", "value": {"gt": 1, "gte": 2}}, "rule.all.0"),
        ({"field": "engagement_score", "op": "range", "value": {"above": 1}}, "rule.all.0"),
        ({"field": "engagement_score", "op": "contains", "value": "1"}, "rule.all.0"),
        ({"field": "last_activity_at", "op": "after"}, "rule.all.0"),
        ({"field": "last_activity_at", "op": "after", "relative": "30 days"}, "rule.all.0"),
        ({"field": "last_activity_at", "op": "after", "relative": "-30y"}, "rule.all.0"),
        (
            {"field": "last_activity_at", "op": "after", "relative": "-3d", "value": "2026-01-01"},
            "rule.all.0",
        ),
        ({"field": "last_activity_at", "op": "before", "value": "yesterday"}, "rule.all.0"),
        ({"field": "last_activity_at", "op": "equals", "value": "2026-01-01"}, "rule.all.0"),
        ({"field": "last_activity_at", "op": "range", "value": {"gte": 5}}, "rule.all.0"),
        ({"field": "tags", "op": "equals", "value": "x", "relative": "-1d"}, "rule.all.0"),
        ({"field": "pools", "op": "in_pool", "value": "p1"}, "rule.all.0"),
        ({"field": "pools", "op": "in_pool", "value": {"stage": "x"}}, "rule.all.0"),
        ({"field": "pools", "op": "in_pool", "value": {"pool_id": "p", "x": 1}}, "rule.all.0"),
        ({"field": "pools", "op": "in_pool", "value": {"pool_id": "p", "stage": ""}}, "rule.all.0"),
        ({"field": "tags", "op": "in_pool", "value": {"pool_id": "p"}}, "rule.all.0"),
        ({"field": "marketing_consent", "op": "equals", "value": "yes"}, "rule.all.0"),
        ({"field": "custom_fields.", "op": "equals", "value": "x"}, "rule.all.0"),
        ({"field": "custom_fields.a.b", "op": "equals", "value": "x"}, "rule.all.0"),
        ({"field": "custom_fields.level", "op": "equals", "value": {"a": 1}}, "rule.all.0"),
        (
            {
                "field": "custom_fields.level",
                "op": "range",
                "value": {"gte": 1, "lt": "2026-01-01"},
            },
            "rule.all.0",
        ),
        (
            {"field": "custom_fields.level", "op": "in_pool", "value": {"pool_id": "p"}},
            "rule.all.0",
        ),
        ({"field": "tags", "op": "in", "value": []}, "rule.all.0"),
        ({"field": "tags", "op": "in", "value": ["ok", ""]}, "rule.all.0"),
        ({"field": "tags", "op": "exists", "value": "yes"}, "rule.all.0"),
        ({"field": "tags", "op": "like", "value": "x"}, "rule.all.0.op"),
        ({"field": "tags", "op": "equals", "value": "x", "extra": 1}, "rule.all.0.extra"),
        ({"segment": ""}, "rule.all.0.segment"),
        ({"segment": "s1", "op": "x"}, "rule.all.0.op"),
    ],
)
def test_an_invalid_condition_names_its_path(condition: dict[str, Any], path: str) -> None:
    valid = {"field": "tags", "op": "exists", "value": True}
    assert bad_paths({"all": [valid, condition]}) == [path.replace("all.0", "all.1")]


def test_errors_in_nested_groups_carry_the_whole_path() -> None:
    raw = {
        "all": [
            {"field": "tags", "op": "equals", "value": "x"},
            {"any": [{"field": "engagement_score", "op": "range", "value": {"gte": "no"}}]},
            {"none": [{"field": "pools", "op": "in_pool", "value": {}}]},
        ]
    }
    assert bad_paths(raw) == ["rule.all.1.any.0", "rule.all.2.none.0"]


def test_a_condition_or_a_reference_is_not_a_rule_on_its_own() -> None:
    assert bad_paths({"field": "tags", "op": "equals", "value": "x"}) == ["rule"]
    assert bad_paths({"segment": "s1"}) == ["rule"]


def test_groups_nest_at_most_five_deep() -> None:
    raw: dict[str, Any] = {"all": [{"field": "tags", "op": "exists", "value": True}]}
    for _ in range(5):
        raw = {"any": [raw]}
    assert bad_paths(raw) == ["rule.any.0.any.0.any.0.any.0.any.0"]


# --- text, lists, booleans ------------------------------------------------------------------


def test_text_operators_ignore_case_and_spacing() -> None:
    assert matches({"field": "location", "op": "equals", "value": " BERLIN "}, location="berlin")
    assert matches({"field": "location", "op": "not_equals", "value": "Paris"}, location="Berlin")
    assert matches({"field": "location", "op": "not_equals", "value": "Paris"})
    assert matches(
        {"field": "location", "op": "in", "value": ["Rome", "Berlin"]}, location="berlin"
    )
    assert matches(
        {"field": "headline", "op": "contains", "value": "Data"}, headline="Big data eng"
    )
    assert not matches({"field": "headline", "op": "contains", "value": "ops"}, headline="Dev")


def test_list_fields_hold_when_any_element_does() -> None:
    assert matches({"field": "tags", "op": "equals", "value": "VIP"}, tags=["alumni", "vip"])
    assert not matches({"field": "tags", "op": "not_equals", "value": "vip"}, tags=["a", "vip"])
    assert matches({"field": "tags", "op": "not_equals", "value": "vip"}, tags=["a"])
    assert matches({"field": "tags", "op": "exists", "value": False}, tags=[])
    assert not matches({"field": "tags", "op": "exists", "value": True}, tags=[])


def test_consent_is_a_boolean_never_a_number() -> None:
    assert matches(
        {"field": "marketing_consent", "op": "equals", "value": True}, marketing_consent=True
    )
    assert not matches({"field": "marketing_consent", "op": "equals", "value": True})
    assert matches(
        {"field": "marketing_consent", "op": "not_equals", "value": True}, marketing_consent=False
    )


# --- numbers and dates ----------------------------------------------------------------------


def test_number_range_and_equality() -> None:
    condition = {"field": "engagement_score", "op": "range", "value": {"gte": 10, "lt": 20}}
    assert matches(condition, engagement_score=10)
    assert matches(condition, engagement_score=19.5)
    assert not matches(condition, engagement_score=20)
    assert not matches(condition)
    assert matches({"field": "engagement_score", "op": "equals", "value": 3}, engagement_score=3.0)
    assert matches({"field": "engagement_score", "op": "in", "value": [1, 2]}, engagement_score=2)


def test_date_range_before_and_after_absolute() -> None:
    seen = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    assert matches(
        {"field": "last_activity_at", "op": "after", "value": "2026-03-01"}, last_activity_at=seen
    )
    assert not matches(
        {"field": "last_activity_at", "op": "after", "value": "2026-03-01T10:30:00+01:00"},
        last_activity_at=seen,
    )
    assert matches(
        {"field": "last_activity_at", "op": "before", "value": "2026-03-02"}, last_activity_at=seen
    )
    assert not matches({"field": "last_activity_at", "op": "before", "value": "2026-03-02"})
    window = {"gte": "2026-02-01", "lte": "2026-03-01T09:30:00Z"}
    assert matches(
        {"field": "last_activity_at", "op": "range", "value": window}, last_activity_at=seen
    )


def test_relative_dates_are_resolved_at_the_evaluation_instant() -> None:
    recent = {"field": "last_activity_at", "op": "after", "relative": "-30d"}
    stale = {"field": "last_activity_at", "op": "before", "relative": "-30d"}
    ten_days_ago = NOW - timedelta(days=10)
    assert matches(recent, last_activity_at=ten_days_ago)
    assert not matches(stale, last_activity_at=ten_days_ago)
    rule = rule_of(recent)
    later = NOW + timedelta(days=25)
    assert not rule_matches(rule, facets(last_activity_at=ten_days_ago), now=later)
    assert parse_relative("+2w") == timedelta(weeks=2)
    assert parse_relative("-15m") == -timedelta(minutes=15)


def test_the_next_change_is_when_a_relative_condition_flips() -> None:
    seen = NOW - timedelta(days=10)
    rule = rule_of(
        {"field": "last_activity_at", "op": "after", "relative": "-30d"},
        {"field": "tags", "op": "equals", "value": "x"},
    )
    assert is_time_dependent(rule)
    flip = next_change_at(rule, facets(last_activity_at=seen), now=NOW)
    assert flip == seen + timedelta(days=30)
    assert rule_matches(
        rule, facets(last_activity_at=seen, tags=["x"]), now=flip - timedelta(milliseconds=1)
    )
    assert not rule_matches(rule, facets(last_activity_at=seen, tags=["x"]), now=flip)
    assert next_change_at(rule, facets(last_activity_at=seen), now=flip) is None
    assert next_change_at(rule, facets(), now=NOW) is None
    assert not is_time_dependent(
        rule_of({"field": "last_activity_at", "op": "after", "value": "2026-01-01"})
    )


def test_a_segment_referring_to_a_time_dependent_one_changes_with_time_too() -> None:
    recent = rule_of({"field": "created_at", "op": "after", "relative": "-5m"})
    fixed = rule_of({"field": "tags", "op": "equals", "value": "x"})
    rules = {
        "recent": recent,
        "refers": rule_of({"segment": "recent"}),
        "refers-twice": parse_rule({"any": [{"segment": "refers"}, {"segment": "fixed"}]}),
        "fixed": fixed,
        "refers-fixed": rule_of({"segment": "fixed"}),
    }
    assert time_dependent_segments(rules) == {"recent", "refers", "refers-twice"}


# --- pools, custom fields, projected facts --------------------------------------------------


def test_pool_and_stage_must_hold_in_the_same_entry() -> None:
    pools = [{"pool_id": "p1", "stage": "Contacted"}, {"pool_id": "p2", "stage": "Interested"}]
    assert matches({"field": "pools", "op": "in_pool", "value": {"pool_id": "p1"}}, pools=pools)
    assert matches(
        {"field": "pools", "op": "in_pool", "value": {"pool_id": "p1", "stage": "contacted"}},
        pools=pools,
    )
    assert not matches(
        {"field": "pools", "op": "in_pool", "value": {"pool_id": "p1", "stage": "interested"}},
        pools=pools,
    )
    assert matches({"field": "pools", "op": "exists", "value": True}, pools=pools)
    query = compile_rule(
        rule_of({"field": "pools", "op": "in_pool", "value": {"pool_id": "p1", "stage": "X"}})
    )
    assert query == {"$and": [{"facets.pools": {"$elemMatch": {"pool_id": "p1", "stage": "x"}}}]}


def test_custom_fields_compare_by_their_own_type() -> None:
    custom = {
        "years": 7,
        "team": "Platform",
        "remote": True,
        "start": datetime(2026, 1, 5, tzinfo=UTC),
    }
    assert matches(
        {"field": "custom_fields.years", "op": "range", "value": {"gt": 5}}, custom_fields=custom
    )
    assert not matches(
        {"field": "custom_fields.team", "op": "range", "value": {"gt": 5}}, custom_fields=custom
    )
    assert matches(
        {"field": "custom_fields.team", "op": "equals", "value": "platform"}, custom_fields=custom
    )
    assert matches(
        {"field": "custom_fields.remote", "op": "equals", "value": True}, custom_fields=custom
    )
    assert not matches(
        {"field": "custom_fields.remote", "op": "equals", "value": 1}, custom_fields=custom
    )
    assert matches(
        {"field": "custom_fields.start", "op": "before", "value": "2026-02-01"},
        custom_fields=custom,
    )
    assert matches(
        {"field": "custom_fields.missing", "op": "exists", "value": False}, custom_fields=custom
    )


def test_custom_dates_stored_as_text_compare_as_dates() -> None:
    custom = {"start": "2026-01-05", "code": "2026-13-99"}
    assert matches(
        {"field": "custom_fields.start", "op": "after", "value": "2026-01-01"}, custom_fields=custom
    )
    assert matches(
        {"field": "custom_fields.start", "op": "equals", "value": "2026-01-05"},
        custom_fields=custom,
    )
    assert matches(
        {"field": "custom_fields.start", "op": "range", "value": {"lt": "2026-01-06"}},
        custom_fields=custom,
    )
    assert matches(
        {"field": "custom_fields.code", "op": "equals", "value": "2026-13-99"}, custom_fields=custom
    )


def test_projected_facts_events_and_ats() -> None:
    assert matches(
        {"field": "events_attended", "op": "equals", "value": "ev1"}, events_attended=["ev1"]
    )
    assert matches(
        {"field": "events_registered", "op": "exists", "value": True}, events_registered=["e"]
    )
    assert matches(
        {"field": "ats_status", "op": "in", "value": ["rejected", "hired"]}, ats_status="rejected"
    )
    assert matches({"field": "ats_stage", "op": "equals", "value": "Onsite"}, ats_stage="onsite")


# --- segment references and the active-only rule --------------------------------------------


def test_a_reference_matches_members_of_the_other_segment() -> None:
    rule = parse_rule({"all": [{"segment": "s1"}, {"field": "tags", "op": "equals", "value": "x"}]})
    assert rule_matches(rule, facets(tags=["x"]), segment_ids={"s1"})
    assert not rule_matches(rule, facets(tags=["x"]), segment_ids={"s2"})
    assert compile_rule(rule)["$and"][0] == {"segment_ids": "s1"}
    assert referenced_segments(rule) == {"s1"}
    raw = {"any": [{"segment": "a"}, {"none": [{"segment": "b"}]}]}
    assert list(reference_paths(raw)) == [("rule.any.0", "a"), ("rule.any.1.none.0", "b")]


def test_reference_graph_orders_and_finds_cycles() -> None:
    graph = ReferenceGraph({"c": {"b"}, "b": {"a"}, "a": set(), "d": set()})
    order = graph.evaluation_order()
    assert order.index("a") < order.index("b") < order.index("c")
    assert graph.cycle_through("a") is None
    assert graph.dependents_of("a") == {"b", "c"}
    cyclic = ReferenceGraph({"a": {"c"}, "b": {"a"}, "c": {"b"}})
    assert cyclic.cycle_through("a") == ["a", "c", "b", "a"]
    assert ReferenceGraph({"a": {"a"}}).cycle_through("a") == ["a", "a"]


def test_merged_or_archived_candidates_are_in_no_segment() -> None:
    rule = rule_of({"field": "tags", "op": "equals", "value": "x"})
    assert segment_matches(rule, facets(tags=["x"]))
    assert segment_matches(rule, facets(tags=["x"], status="active"))
    assert not segment_matches(rule, facets(tags=["x"], status="merged"))
    assert compile_segment_query(rule)["$and"][0] == {"facets.inactive": {"$ne": True}}


def test_reference_problems_name_unknown_segments_then_cycles() -> None:
    plain = {"all": [{"field": "tags", "op": "equals", "value": "x"}]}
    raw = {"all": [{"segment": "b"}, {"segment": "missing"}]}
    assert reference_problems(raw, parse_rule(raw), "a", {"b": plain}) == [
        ("rule.all.1.segment", "no segment missing in this tenant")
    ]
    raw = {"all": [{"segment": "b"}]}
    existing = {"b": {"all": [{"segment": "a"}]}}
    assert reference_problems(raw, parse_rule(raw), "a", existing, {"b": "Engagé"}) == [
        (
            "rule.all.0.segment",
            "segment references form a cycle: this segment -> “Engagé” (b) -> this segment",
        )
    ]
    assert reference_problems(raw, parse_rule(raw), "a", {"b": plain}) == []


def test_a_pool_or_stage_the_tenant_lacks_is_named_rather_than_matching_nobody() -> None:
    pool = Pool(
        id="p1",
        tenant_id="acme",
        name="Øresund engineers",
        stages=["Nouveau", "Écran"],
        owner_ids=[],
        created_by="alice",
    )
    raw = {
        "all": [
            {"field": "pools", "op": "in_pool", "value": {"pool_id": "p1", "stage": "écran"}},
            {"any": [{"field": "pools", "op": "in_pool", "value": {"pool_id": "p1"}}]},
            {"field": "pools", "op": "in_pool", "value": {"pool_id": "p1", "stage": "Nope"}},
            {"none": [{"field": "pools", "op": "in_pool", "value": {"pool_id": "gone"}}]},
            {"field": "tags", "op": "equals", "value": "p1"},
        ]
    }
    assert unknown_pool_stages(raw, {"p1": pool}) == [
        ("rule.all.2.value", "Øresund engineers has no stage 'Nope' (its stages: Nouveau, Écran)"),
        ("rule.all.3.none.0.value", "no talent pool gone in this tenant"),
    ]
