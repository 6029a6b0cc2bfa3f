"""What a settings write tells the audit log it changed: the fields with values before and
after, secrets only as changed, bounded so the header always fits."""

from __future__ import annotations

import json

from crm_shared.audit_changes import (
    CHANGES_HEADER,
    MAX_CHANGES,
    MAX_HEADER_CHARS,
    changed_fields,
    changes_header,
    describe_change,
    read_changes,
    secret_changed,
)


def test_only_the_changed_fields_are_listed_nested_ones_dotted() -> None:
    before = {"frequency_cap": {"max_messages": 2, "period_days": 7}, "on_limit": "defer"}
    after = {"frequency_cap": {"max_messages": 3, "period_days": 7}, "on_limit": "defer"}

    assert changed_fields(before, after) == [
        {"field": "frequency_cap.max_messages", "before": 2, "after": 3}
    ]


def test_a_field_added_or_removed_has_none_on_the_other_side() -> None:
    assert changed_fields({"skills": {}}, {"skills": {"Python": ["py"]}}) == [
        {"field": "skills.Python", "before": None, "after": ["py"]}
    ]
    assert changed_fields({"a": 1}, None) == [{"field": "a", "before": 1, "after": None}]


def test_a_secret_is_only_said_to_have_changed() -> None:
    changes = changed_fields(
        {"email": "old@example.com", "roles": ["viewer"]},
        {"email": "new@example.com", "roles": ["admin"]},
        secrets=("email",),
    )

    assert changes == [
        {"field": "email", "changed": True},
        {"field": "roles", "before": ["viewer"], "after": ["admin"]},
    ]
    assert "example.com" not in json.dumps(changes)
    assert describe_change(changes[0]) == "email: changed"
    assert describe_change(changes[1]) == 'roles: ["viewer"] -> ["admin"]'


def test_the_header_round_trips_and_stays_bounded() -> None:
    many = [{"field": f"f{i}", "before": "x" * 1000, "after": list(range(100))} for i in range(99)]

    header = changes_header(many)[CHANGES_HEADER]
    read = read_changes(header)

    assert read is not None
    assert len(header) <= MAX_HEADER_CHARS
    assert read[-1] == {"field": "…", "more": 99 - (len(read) - 1)}
    assert len(read[0]["before"]) <= 120
    short = read_changes(changes_header([{"field": f"f{i}"} for i in range(99)])[CHANGES_HEADER])
    assert short is not None
    assert len(short) == MAX_CHANGES + 1
    assert read_changes(changes_header([secret_changed("api_key")])[CHANGES_HEADER]) == [
        {"field": "api_key", "changed": True}
    ]


def test_nothing_changed_sends_no_header_and_a_malformed_one_is_ignored() -> None:
    assert changes_header(changed_fields({"a": 1}, {"a": 1})) == {}
    assert read_changes(None) is None
    assert read_changes("not json") is None
    assert read_changes('{"field": "a"}') is None
    assert read_changes('[{"no": "field"}, {"field": "a", "before": 1, "after": 2}]') == [
        {"field": "a", "before": 1, "after": 2}
    ]
