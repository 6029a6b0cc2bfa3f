"""Templates merge the tenant's custom fields as `candidate.custom_fields.<key>`: checked against
the fields the tenant defined when saved, printed per type, escaped in HTML, with `default()`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from crm_campaigns.domain.models import CustomField, Recipient
from crm_campaigns.domain.templates import (
    RenderError,
    TemplateError,
    merge_fields,
    recipient_context,
    render,
    validate_template,
)

pytestmark = pytest.mark.unit

AT = datetime(2026, 12, 1, tzinfo=UTC)


def field(key: str, type_: str = "string", *, deleted: bool = False) -> CustomField:
    return CustomField(
        tenant_id="acme",
        key=key,
        label=key.replace("_", " ").capitalize(),
        type=type_,
        allowed_values=["Go", "Rust"] if type_ in {"enum", "multi_enum"} else [],
        deleted=deleted,
        changed_at=AT,
    )


FIELDS = [
    field("preferred_stack"),
    field("start_date", "date"),
    field("years", "number"),
    field("open_to_remote", "boolean"),
    field("languages", "multi_enum"),
    field("items"),  # a key that is also a dict method's name
    field("old_badge", deleted=True),
]


def context(**values: Any) -> dict[str, Any]:
    recipient = Recipient(
        candidate_id="c1", tenant_id="acme", first_name="Ada", custom_fields=values
    )
    return recipient_context(recipient)


def issues(source: str, fields: list[CustomField] = FIELDS) -> list[tuple[str, int | None]]:
    with pytest.raises(TemplateError) as refused:
        validate_template({"html": source}, custom_fields=fields)
    return [(issue.message, issue.line) for issue in refused.value.issues]


def test_a_defined_custom_field_is_accepted_at_save() -> None:
    validate_template(
        {
            "subject": "{{ candidate.custom_fields.preferred_stack | default('your stack') }}",
            "html": "{% if candidate.custom_fields.open_to_remote %}remote{% endif %}",
        },
        custom_fields=FIELDS,
    )


def test_an_unknown_key_is_refused_at_its_line() -> None:
    assert issues("Hi\n\n{{ candidate.custom_fields.salary }}") == [
        ("unknown custom field candidate.custom_fields.salary", 3)
    ]


def test_without_definitions_no_custom_field_is_known() -> None:
    assert issues("{{ candidate.custom_fields.preferred_stack }}", []) == [
        ("unknown custom field candidate.custom_fields.preferred_stack", 1)
    ]


def test_a_custom_key_typed_as_a_candidate_field_is_shown_its_path() -> None:
    assert issues("{{ candidate.preferred_stack }}") == [
        (
            "unknown merge field candidate.preferred_stack; the custom field is "
            "candidate.custom_fields.preferred_stack",
            1,
        )
    ]


def test_a_deleted_field_is_refused_naming_the_deletion() -> None:
    [(message, line)] = issues("{{ candidate.custom_fields.old_badge }}")
    assert message.startswith("custom field candidate.custom_fields.old_badge was deleted")
    assert line == 1


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ candidate.custom_fields }}", "candidate.custom_fields needs a field's key"),
        ("{{ candidate.custom_fields.preferred_stack.x }}", "merge fields are one level deep"),
        ("{{ candidate.preferred_stack }}", "unknown merge field candidate.preferred_stack"),
        ("{{ sender.custom_fields.preferred_stack }}", "unknown merge field sender.custom_fields"),
        ("{{ candidate.custom_fields['preferred_stack'] }}", "not candidate[...]"),
        ("{{ candidate.custom_fields.__class__ }}", "unknown custom field"),
    ],
)
def test_other_shapes_are_refused(source: str, expected: str) -> None:
    assert any(expected in message for message, _ in issues(source))


def test_values_are_printed_per_type() -> None:
    rendered = render(
        "",
        "",
        "{{ candidate.custom_fields.preferred_stack }}|{{ candidate.custom_fields.start_date }}|"
        "{{ candidate.custom_fields.years }}|{{ candidate.custom_fields.open_to_remote }}|"
        "{{ candidate.custom_fields.languages }}|{{ candidate.custom_fields.items }}",
        context(
            preferred_stack="Go",
            start_date="2027-01-15",
            years=7.0,
            open_to_remote=False,
            languages=["Go", "Rust"],
            items="kept",
        ),
    )
    assert rendered.text == "Go|2027-01-15|7|no|Go, Rust|kept"


def test_numbers_print_without_an_exponent() -> None:
    text = "{{ candidate.custom_fields.years }}"
    assert render("", "", text, context(years=2.5)).text == "2.5"
    assert render("", "", text, context(years=1e21)).text == "1000000000000000000000"
    assert render("", "", text, context(years=0.00001)).text == "0.00001"


def test_a_boolean_tests_as_itself() -> None:
    text = "{% if candidate.custom_fields.open_to_remote %}remote{% else %}on site{% endif %}"
    assert render("", "", text, context(open_to_remote=True)).text == "remote"
    assert render("", "", text, context(open_to_remote=False)).text == "on site"
    assert render("", "", text, context()).text == "on site"


@pytest.mark.parametrize("missing", [{}, {"preferred_stack": ""}, {"languages": []}])
def test_a_missing_value_takes_the_default(missing: dict[str, Any]) -> None:
    text = (
        "{{ candidate.custom_fields.preferred_stack | default('your stack') }}/"
        "{{ candidate.custom_fields.languages | default('any') }}"
        "{% if candidate.custom_fields.preferred_stack %}!{% endif %}"
    )
    assert render("", "", text, context(**missing)).text == "your stack/any"


def test_values_are_escaped_in_html_only() -> None:
    rendered = render(
        "{{ candidate.custom_fields.preferred_stack }}",
        "<p>{{ candidate.custom_fields.preferred_stack }}</p>",
        "{{ candidate.custom_fields.preferred_stack }}",
        context(preferred_stack="<b>Go & Rust</b>"),
    )
    assert rendered.html == "<p>&lt;b&gt;Go &amp; Rust&lt;/b&gt;</p>"
    assert rendered.text == "<b>Go & Rust</b>"
    assert rendered.subject == "<b>Go & Rust</b>"


def test_a_value_kept_after_its_field_was_deleted_still_renders() -> None:
    """A template saved before the deletion keeps rendering the values candidates still hold
    (the candidates service keeps them on the record and in its events)."""
    text = "{{ candidate.custom_fields.old_badge | default('none') }}"
    assert render("", "", text, context(old_badge="gold")).text == "gold"
    assert render("", "", text, context()).text == "none"


def test_a_failing_render_names_the_custom_field() -> None:
    with pytest.raises(RenderError) as failed:
        render("", "", "x\n{{ candidate.custom_fields.preferred_stack + 1 }}", context())
    assert failed.value.line == 2
    assert failed.value.fields == ["candidate.custom_fields.preferred_stack"]


def test_the_picker_offers_the_live_custom_fields() -> None:
    offered = {f.name: f for f in merge_fields(custom_fields=FIELDS)}
    stack = offered["candidate.custom_fields.preferred_stack"]
    assert stack.insert == "{{ candidate.custom_fields.preferred_stack }}"
    assert "Preferred stack" in stack.description
    assert "a date" in offered["candidate.custom_fields.start_date"].description
    assert "candidate.custom_fields.old_badge" not in offered
