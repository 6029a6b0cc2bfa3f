"""The segment pages in-process, the API answered by a stand-in: the list, the rule builder
for the whole rule language with its live count, save, edit, delete (the real API:
tests/e2e/test_console_pools.py), and the builder's model against the candidates service's
rule language."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from crm_candidates.domain.segments import OPERATORS_BY_KIND as SERVICE_OPERATORS
from crm_candidates.domain.segments import SEGMENTABLE_FIELDS, parse_rule
from crm_console.domain.segments import (
    FIELDS,
    OPERATORS_BY_KIND,
    Condition,
    FieldCatalogue,
    Group,
    Reference,
    apply_action,
    draft_from_form,
    draft_from_rule,
    errors_by_node,
    fit_to_fields,
    node_path,
    path_label,
    rule_of,
)
from unit.console.test_pages import Api, gateway_headers, htmx_headers
from unit.console.test_pages import console as console

pytestmark = pytest.mark.unit

Console = tuple[httpx.AsyncClient, Api]
CATALOGUE = FieldCatalogue.of(
    [
        {"key": "shoe_size", "label": "Shoe size", "type": "number"},
        {"key": "remote", "label": "Remote", "type": "boolean"},
        {"key": "team", "label": "Team", "type": "string"},
    ]
)
# Every operator of the language, relative and absolute dates, nesting, pool and segment
# references: what the builder must carry to the API and back unchanged.
FULL_RULE: dict[str, Any] = {
    "all": [
        {"field": "tags", "op": "equals", "value": "berlin"},
        {"field": "skills", "op": "in", "value": ["python", "sql"]},
        {"field": "current_title", "op": "contains", "value": "engineer"},
        {"field": "location", "op": "not_equals", "value": "Oslo"},
        {"field": "headline", "op": "exists", "value": False},
        {"field": "marketing_consent", "op": "equals", "value": True},
        {"field": "engagement_score", "op": "range", "value": {"gte": 2.5, "lt": 10}},
        {"field": "engagement_score", "op": "in", "value": [1, 2]},
        {"field": "last_activity_at", "op": "after", "relative": "-30d"},
        {"field": "created_at", "op": "before", "value": "2026-01-31"},
        {"field": "updated_at", "op": "range", "value": {"gt": "2026-01-01"}},
        {
            "any": [
                {"field": "pools", "op": "in_pool", "value": {"pool_id": "p1", "stage": "New"}},
                {"field": "pools", "op": "in_pool", "value": {"pool_id": "p2"}},
                {"segment": "s7"},
                {"none": [{"field": "ats_status", "op": "in", "value": ["hired", "rejected"]}]},
            ]
        },
        {"field": "custom_fields.shoe_size", "op": "equals", "value": 44},
        {"field": "custom_fields.remote", "op": "not_equals", "value": False},
        {"field": "custom_fields.team", "op": "contains", "value": "data"},
        {"field": "updated_at", "op": "before", "relative": "+2w"},
    ]
}
SEGMENT = {
    "id": "s1",
    "name": "Engaged Berliners",
    "rule": {"all": [{"field": "tags", "op": "equals", "value": "berlin"}]},
    "status": "ready",
    "member_count": 12,
    "time_dependent": False,
    "created_at": "2026-12-01T10:00:00Z",
    "updated_at": None,
}


def form_of(draft: Group, path: str = "r") -> dict[str, str]:
    """What the builder's form sends for a draft (as the template names its fields)."""
    fields = {f"{path}.type": "group", f"{path}.kind": draft.kind}
    for index, member in enumerate(draft.members):
        child = f"{path}.{index}"
        if isinstance(member, Group):
            fields |= form_of(member, child)
        elif isinstance(member, Reference):
            fields |= {f"{child}.type": "segment", f"{child}.segment": member.segment}
        else:
            fields[f"{child}.type"] = "condition"
            fields |= {f"{child}.{name}": str(value) for name, value in vars(member).items()}
    return fields


def builder_api(api: Api) -> None:
    api.answer(
        "GET",
        "/api/v1/pools",
        body=[{"id": "p1", "name": "Backend", "stages": ["New", "Hired"]}],
    )
    api.answer("GET", "/api/v1/segments", body=[SEGMENT, {**SEGMENT, "id": "s7", "name": "VIP"}])
    api.answer("GET", "/api/v1/custom-fields", body=[{"key": "shoe_size", "type": "number"}])


def test_the_builder_knows_every_field_and_operator_the_service_accepts() -> None:
    assert set(FIELDS) == set(SEGMENTABLE_FIELDS)
    for name, (_, kind) in FIELDS.items():
        assert kind == SEGMENTABLE_FIELDS[name].value, name
    for kind, operators in SERVICE_OPERATORS.items():
        assert set(OPERATORS_BY_KIND[kind.value]) == {op.value for op in operators}, kind


def test_the_whole_rule_language_goes_through_the_builder_and_back_unchanged() -> None:
    draft = draft_from_rule(FULL_RULE)
    rule, errors = rule_of(draft, CATALOGUE)
    assert errors == {}
    assert rule == FULL_RULE
    # The same through the form the browser sends back.
    again, errors = rule_of(draft_from_form(form_of(draft)), CATALOGUE)
    assert (again, errors) == (FULL_RULE, {})
    # And the service takes it.
    parse_rule(rule)


def test_values_that_are_no_number_are_caught_before_the_api_is_asked() -> None:
    draft = Group(
        members=[
            Condition(field="engagement_score", op="equals", value="lots"),
            Group(
                kind="any", members=[Condition(field="last_activity_at", op="after", amount="x")]
            ),
            Condition(field="engagement_score", op="range", lower="1,5"),
        ]
    )
    rule, errors = rule_of(draft, CATALOGUE)
    assert errors == {
        "r.0": "“lots” is not a number",
        "r.1.0": "Enter how many days as a whole number from 0 to 99999 (not “x”); choose ago or "
        "from now under Direction",
    }
    assert rule["all"][2]["value"] == {"gte": 1.5}
    # A sign typed into the amount is no amount: the direction is chosen beside it.
    signed = Group(members=[Condition(field="created_at", op="after", amount="-5", unit="w")])
    _, errors = rule_of(signed, CATALOGUE)
    assert errors == {
        "r.0": "Enter how many weeks as a whole number from 0 to 99999 (not “-5”); choose ago or "
        "from now under Direction"
    }


def test_api_error_paths_land_on_the_node_they_name() -> None:
    assert node_path("rule.all.1.any.0.value") == "r.1.0"
    assert node_path("rule.any.2.segment") == "r.2"
    assert node_path("rule") == "r"
    assert node_path("name") is None
    assert errors_by_node({"rule.all.0.op": "bad op", "rule.all.0.value": "second", "x": "y"}) == {
        "r.0": "bad op"
    }
    assert path_label("r.0.2") == "1.3"
    assert path_label("r") == "rule"


def test_builder_actions_add_and_remove_nodes_within_the_depth() -> None:
    draft = Group(members=[Condition()])
    draft, focus = apply_action(draft, "add-group:r")
    assert focus == "r.1"
    assert isinstance(draft.members[1], Group)
    draft, focus = apply_action(draft, "add-segment:r.1")
    assert focus == "r.1.1"
    assert isinstance(draft.members[1].members[1], Reference)  # type: ignore[union-attr]
    # Removing a group's last member leaves it an empty condition (a group is never empty).
    draft, _ = apply_action(draft, "remove:r.1.0")
    draft, _ = apply_action(draft, "remove:r.1.0")
    assert draft.members[1].members == [Condition()]  # type: ignore[union-attr]
    draft, _ = apply_action(draft, "remove:r")  # the rule itself stays
    assert len(draft.members) == 2
    # Groups nest five deep: a group of the fifth level gets a condition instead.
    deep = Group(members=[Group(members=[Group(members=[Group(members=[Group(members=[])])])])])
    _, fourth = apply_action(deep, "add-group:r.0.0.0")
    assert fourth == "r.0.0.0.1"
    assert isinstance(deep.members[0].members[0].members[0].members[1], Group)  # type: ignore[union-attr]
    _, fifth = apply_action(deep, "add-group:r.0.0.0.0")
    assert fifth == "r.0.0.0.0.0"
    assert isinstance(
        deep.members[0].members[0].members[0].members[0].members[0],  # type: ignore[union-attr]
        Condition,
    )


def test_a_changed_field_gets_an_operator_it_takes() -> None:
    draft = Group(
        members=[
            Condition(field="pools", op="contains"),
            Condition(field="custom_fields.hidden", op="contains"),
            Condition(field="bogus", op="equals"),
        ]
    )
    catalogue = FieldCatalogue.of([])
    fit_to_fields(draft, catalogue)
    assert [(c.field, c.op) for c in draft.members] == [  # type: ignore[union-attr]
        ("pools", "in_pool"),
        ("custom_fields.hidden", "contains"),
        ("tags", "equals"),
    ]


async def test_the_list_shows_each_segment_with_its_members(console: Console) -> None:
    client, api = console
    api.answer("GET", "/api/v1/segments", body=[SEGMENT])
    page = await client.get("/console/segments", headers=gateway_headers())
    assert page.status_code == 200
    assert 'data-members="s1">12<' in page.text
    assert 'href="/console/segments/new"' in page.text


async def test_an_existing_segment_opens_in_the_builder_with_its_count(console: Console) -> None:
    client, api = console
    builder_api(api)
    api.answer("GET", "/api/v1/segments/s1", body={**SEGMENT, "rule": FULL_RULE})
    api.answer(
        "POST",
        "/api/v1/segments/preview",
        body={"count": 3, "sample": [{"id": "c1", "first_name": "Zoë", "last_name": "Ørn"}]},
    )
    page = await client.get("/console/segments/s1", headers=gateway_headers())
    assert page.status_code == 200, page.text
    assert 'data-testid="member-count">3<' in page.text
    assert "Zoë Ørn" in page.text
    preview_call = next(c for c in api.calls if c.url.path == "/api/v1/segments/preview")
    # Counted as the segment's own rule: a reference back to it is refused while editing.
    assert json.loads(preview_call.content) == {
        "rule": FULL_RULE,
        "sample_size": 10,
        "segment_id": "s1",
    }
    # The segment itself is no reference choice; the other one is, selected.
    assert '<option value="s7" selected>VIP</option>' in page.text
    assert '<option value="s1"' not in page.text
    # The pool condition offers the chosen pool's stages.
    assert "<option selected>New</option>" in page.text
    assert 'name="r.8.amount" value="30"' in page.text


async def test_events_and_owners_are_chosen_by_name_and_sent_by_id(console: Console) -> None:
    client, api = console
    builder_api(api)
    api.answer(
        "GET",
        "/api/v1/events",
        body=[{"id": "ev1", "name": "Career fair", "starts_at": "2027-01-03T08:00:00Z"}],
    )
    api.answer("GET", "/api/v1/team", body={"items": [{"user_id": "usr_rita", "name": "Rita"}]})
    api.answer("POST", "/api/v1/segments/preview", body={"count": 0, "sample": []})
    draft = Group(
        members=[
            Condition(field="events_attended", op="equals", value="ev1"),
            Condition(field="owner_id", op="equals", value="usr_gone"),
            Condition(field="events_registered", op="in", value="ev1"),
        ]
    )
    form = {**form_of(draft), "name": "x", "segment_id": "", "action": "recount"}
    fragment = await client.post("/console/segments/builder", data=form, headers=htmx_headers())
    assert fragment.status_code == 200, fragment.text
    assert '<option value="ev1" selected>Career fair (2027-01-03)</option>' in fragment.text
    assert '<option value="usr_rita">Rita</option>' in fragment.text
    # An owner no longer in the team stays chosen, by id.
    assert '<option value="usr_gone" selected>usr_gone</option>' in fragment.text
    # Typed as a list, the ids are suggested by name.
    assert 'list="known-events_registered"' in fragment.text
    assert '<datalist id="known-events_registered">' in fragment.text


async def test_adding_a_group_rebuilds_the_builder_and_focuses_it(console: Console) -> None:
    client, api = console
    builder_api(api)
    api.answer("POST", "/api/v1/segments/preview", body={"count": 0, "sample": []})
    form = {
        **form_of(Group(members=[Condition(value="berlin")])),
        "name": "x",
        "segment_id": "",
        "action": "add-group:r",
    }
    fragment = await client.post("/console/segments/builder", data=form, headers=htmx_headers())
    assert fragment.status_code == 200
    assert fragment.text.count('class="rule-group"') == 2
    # The new group's first control takes the focus; nothing else does.
    assert re.search(r'id="r-1-kind" name="r.1.kind"[^>]*autofocus', fragment.text)
    assert fragment.text.count("autofocus") == 1
    assert 'hx-swap-oob="true"' in fragment.text  # the count comes along
    assert 'value="berlin"' in fragment.text


async def test_the_live_count_places_the_apis_errors_at_their_conditions(
    console: Console,
) -> None:
    client, api = console
    builder_api(api)
    api.answer(
        "POST",
        "/api/v1/segments/preview",
        422,
        {
            "title": "Request validation failed",
            "status": 422,
            "detail": "the segment rule is not valid: rule.all.1.segment: a cycle",
            "errors": [{"field": "rule.all.1.segment", "detail": "s1 refers back to itself"}],
        },
    )
    draft = Group(members=[Condition(value="berlin"), Reference(segment="s7")])
    fragment = await client.post(
        "/console/segments/preview",
        data={**form_of(draft), "segment_id": "s1"},
        headers=htmx_headers(),
    )
    assert fragment.status_code == 200
    assert (
        '<p class="field-error" id="err-r-1" hx-swap-oob="true">s1 refers back to itself</p>'
        in (fragment.text)
    )
    assert '<p class="field-error" id="err-r-0" hx-swap-oob="true"></p>' in fragment.text
    assert 'data-testid="preview-problem"' in fragment.text


async def test_a_part_just_added_waits_quietly_and_is_named_on_saving(console: Console) -> None:
    """A pool condition before its pool is chosen, a reference before its segment, a value not
    typed yet: the live count waits without an error (no API call); saving names each."""
    client, api = console
    builder_api(api)
    draft = Group(
        members=[
            Condition(value="berlin"),
            Condition(field="pools", op="in_pool"),
            Reference(),
            Condition(field="location", op="equals", value=" "),
        ]
    )
    fragment = await client.post(
        "/console/segments/preview", data=form_of(draft), headers=htmx_headers()
    )
    assert fragment.status_code == 200
    assert "Complete a condition to see how many candidates match." in fragment.text
    assert '<p class="field-error" id="err-r-1" hx-swap-oob="true"></p>' in fragment.text
    assert not [c for c in api.calls if c.url.path == "/api/v1/segments/preview"]

    refused = await client.post(
        "/console/segments", data={**form_of(draft), "name": "Half done"}, headers=htmx_headers()
    )
    assert refused.status_code == 422
    assert 'id="err-r-1" role="alert">Choose the talent pool</p>' in refused.text
    assert 'id="err-r-2" role="alert">Choose the segment</p>' in refused.text
    assert 'id="err-r-3" role="alert">Give the value</p>' in refused.text
    assert 'id="err-r-0" role="alert"' not in refused.text
    assert not [c for c in api.calls if c.method == "POST" and c.url.path == "/api/v1/segments"]


async def test_saving_a_new_segment_opens_it(console: Console) -> None:
    client, api = console
    builder_api(api)
    api.answer("POST", "/api/v1/segments", 201, {**SEGMENT, "id": "s9"})
    draft = Group(members=[Condition(value="berlin")])
    answer = await client.post(
        "/console/segments",
        data={**form_of(draft), "name": " Berlin  fans "},
        headers=htmx_headers(),
    )
    assert answer.status_code == 204, answer.text
    assert answer.headers["hx-redirect"] == "/console/segments/s9?saved=1"
    [save] = [c for c in api.calls if c.method == "POST"]
    assert json.loads(save.content) == {
        "name": "Berlin fans",
        "rule": {"all": [{"field": "tags", "op": "equals", "value": "berlin"}]},
    }


async def test_a_refused_save_shows_the_error_at_the_rule(console: Console) -> None:
    client, api = console
    builder_api(api)
    api.answer(
        "PATCH",
        "/api/v1/segments/s1",
        422,
        {
            "title": "Request validation failed",
            "status": 422,
            "detail": "the segment rule is not valid",
            "errors": [{"field": "rule.all.0.segment", "detail": "a cycle: s1 -> s7 -> s1"}],
        },
    )
    api.answer("POST", "/api/v1/segments/preview", body={"count": 1, "sample": []})
    draft = Group(members=[Reference(segment="s7")])
    fragment = await client.post(
        "/console/segments/s1",
        data={**form_of(draft), "name": "Loop", "segment_id": "s1"},
        headers=htmx_headers(),
    )
    assert fragment.status_code == 422
    assert 'id="err-r-0" role="alert">a cycle: s1 -&gt; s7 -&gt; s1</p>' in fragment.text
    # Placed at the rule, not repeated at the top: a friendly line there says so.
    assert fragment.text.count("a cycle") == 1
    assert 'data-testid="not-saved"' in fragment.text
    empty_name = await client.post(
        "/console/segments", data={**form_of(draft), "name": " "}, headers=htmx_headers()
    )
    assert 'id="e-name">Give the segment a name</p>' in empty_name.text

    # A name another segment has is said at the name.
    taken = "a segment named 'Loop' exists; choose another name"
    api.answer(
        "POST",
        "/api/v1/segments",
        409,
        {
            "title": "Conflict",
            "status": 409,
            "detail": taken,
            "errors": [{"field": "name", "detail": taken}],
        },
    )
    named = await client.post(
        "/console/segments", data={**form_of(draft), "name": "Loop"}, headers=htmx_headers()
    )
    assert named.status_code == 422  # the form, refused at a field
    assert 'id="e-name">a segment named &#39;Loop&#39; exists; choose another name</p>' in (
        named.text
    )


async def test_a_segment_in_use_is_not_deleted_and_says_why(console: Console) -> None:
    client, api = console
    api.answer(
        "DELETE",
        "/api/v1/segments/s7",
        409,
        {"title": "Conflict", "status": 409, "detail": "segment s7 is used by segment 'Loop'"},
    )
    refused = await client.post("/console/segments/s7/delete", headers=htmx_headers())
    assert refused.status_code == 409
    assert "is used by segment &#39;Loop&#39;" in refused.text
    api.answer("DELETE", "/api/v1/segments/s1", 204)
    deleted = await client.post("/console/segments/s1/delete", headers=htmx_headers())
    assert deleted.status_code == 204
    assert deleted.headers["hx-redirect"] == "/console/segments"


CHOICE_FIELDS = [
    {
        "key": "office",
        "label": "Office",
        "type": "enum",
        "allowed_values": ["Berlin, Germany", "Oslo"],
    },
    {"key": "langs", "label": "Languages", "type": "multi_enum", "allowed_values": ["de", "en"]},
]


def _operators(fragment: str, path_id: str) -> list[str]:
    [menu] = re.findall(rf'<select id="{path_id}-op".*?</select>', fragment, re.S)
    return re.findall(r'<option value="([^"]+)"', menu)


async def test_a_choice_list_field_is_compared_with_its_choices(console: Console) -> None:
    client, api = console
    builder_api(api)
    api.answer("GET", "/api/v1/custom-fields", body=CHOICE_FIELDS)
    api.answer("POST", "/api/v1/segments/preview", body={"count": 0, "sample": []})
    draft = Group(
        members=[
            Condition(field="custom_fields.office", op="after"),
            Condition(field="custom_fields.langs", op="equals", value="en"),
            Condition(field="custom_fields.office", op="in", value="Berlin, Germany"),
        ]
    )
    form = {**form_of(draft), "name": "x", "segment_id": "", "action": "recount"}
    fragment = await client.post("/console/segments/builder", data=form, headers=htmx_headers())
    assert fragment.status_code == 200, fragment.text
    # Only what a choice takes: no "between", "before", "after" nor a substring.
    assert _operators(fragment.text, "r-0") == ["equals", "not_equals", "in", "exists"]
    # An operator a choice does not take became its first, the value one of the choices.
    assert '<option value="equals" selected>is</option>' in fragment.text
    [office] = re.findall(r'<select id="r-0-value".*?</select>', fragment.text, re.S)
    assert re.findall(r"<option[^>]*>([^<]*)</option>", office) == [
        "Choose…",
        "Berlin, Germany",
        "Oslo",
    ]
    # Several of a list: its condition holds when the candidate's list includes the value.
    assert '<option value="equals" selected>includes</option>' in fragment.text
    [langs] = re.findall(r'<select id="r-1-value"[^>]*>.*?</select>', fragment.text, re.S)
    assert "<option selected>en</option>" in langs
    # "is one of" is a multi-select, a choice holding a comma is one choice.
    [several] = re.findall(r'<select id="r-2-value"[^>]*>.*?</select>', fragment.text, re.S)
    assert "multiple" in several
    assert "<option selected>Berlin, Germany</option>" in several
    assert "<option>Oslo</option>" in several


async def test_choices_chosen_several_go_to_the_api_whole(console: Console) -> None:
    client, api = console
    builder_api(api)
    api.answer("GET", "/api/v1/custom-fields", body=CHOICE_FIELDS)
    api.answer("POST", "/api/v1/segments/preview", body={"count": 2, "sample": []})
    draft = Group(members=[Condition(field="custom_fields.office", op="in")])
    form = [
        *((name, value) for name, value in form_of(draft).items() if name != "r.0.value"),
        ("r.0.value", "Berlin, Germany"),
        ("r.0.value", "Oslo"),
        ("segment_id", ""),
    ]
    fragment = await client.post(
        "/console/segments/preview",
        content=urlencode(form),
        headers={**htmx_headers(), "content-type": "application/x-www-form-urlencoded"},
    )
    assert fragment.status_code == 200, fragment.text
    preview_call = next(c for c in api.calls if c.url.path == "/api/v1/segments/preview")
    assert json.loads(preview_call.content)["rule"] == {
        "all": [{"field": "custom_fields.office", "op": "in", "value": ["Berlin, Germany", "Oslo"]}]
    }
    # A stored rule comes back into the builder with the same two choices.
    stored = draft_from_rule(json.loads(preview_call.content)["rule"])
    catalogue = FieldCatalogue.of(CHOICE_FIELDS)
    assert rule_of(stored, catalogue)[0] == json.loads(preview_call.content)["rule"]


def test_a_custom_field_is_offered_the_operators_of_its_declared_type() -> None:
    catalogue = FieldCatalogue.of(
        [
            *CHOICE_FIELDS,
            {"key": "team", "type": "string"},
            {"key": "start", "type": "date"},
            {"key": "remote", "type": "boolean"},
        ]
    )
    assert catalogue.operators("custom_fields.team") == OPERATORS_BY_KIND["text"]
    assert catalogue.operators("custom_fields.remote") == OPERATORS_BY_KIND["boolean"]
    assert "contains" not in catalogue.operators("custom_fields.start")
    assert catalogue.value_type("custom_fields.start") == "date"
    assert catalogue.choices["custom_fields.office"] == ("Berlin, Germany", "Oslo")
    # One whose type cannot be read (the person may not list the fields) takes every operator.
    assert catalogue.operators("custom_fields.unknown") == OPERATORS_BY_KIND["custom"]
