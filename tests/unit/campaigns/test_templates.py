"""Templates render merge fields with fallbacks, in a sandbox, and refuse unknown fields."""

from __future__ import annotations

import pytest
from jinja2.exceptions import SecurityError, UndefinedError

from crm_campaigns.domain.models import Recipient
from crm_campaigns.domain.templates import (
    TemplateError,
    recipient_context,
    render,
    validate_template,
)

pytestmark = pytest.mark.unit


def context(**fields: str | None) -> dict[str, object]:
    return recipient_context(
        Recipient(candidate_id="c1", tenant_id="acme", email="ada@example.org", **fields)
    )


def test_merge_fields_render_and_fall_back_when_missing() -> None:
    template = (
        "Hi {{ candidate.first_name | default('there') }} from {{ sender.name | default('us') }}"
    )
    assert render(template, "", "", context(first_name="Ada")).subject == "Hi Ada from us"
    assert render(template, "", "", context()).subject == "Hi there from us"


def test_html_is_escaped_but_text_is_not() -> None:
    rendered = render(
        "s",
        "<p>{{ candidate.first_name }}</p>",
        "{{ candidate.first_name }}",
        context(first_name="<script>x</script>"),
    )
    assert "<script>" not in rendered.html
    assert rendered.text == "<script>x</script>"


@pytest.mark.parametrize(
    "source",
    [
        "{{ candidate.salary }}",
        "{{ config }}",
        "{{ candidate }}",
        "{{ candidate.__class__ }}",
        "{{ candidate.first_name.__class__.__mro__ }}",
        "{{ candidate['first_name'] }}",
        "{{ cycler.__init__.__globals__ }}",
        "{% for x in range(10) %}{% endfor %}",
    ],
)
def test_unknown_fields_and_injection_attempts_are_refused_on_save(source: str) -> None:
    with pytest.raises(TemplateError):
        validate_template({"html": source})


def test_the_sandbox_refuses_unsafe_access_even_if_a_template_slipped_through() -> None:
    with pytest.raises(SecurityError):
        render("{{ ''.__class__.__mro__[1].__subclasses__() }}", "", "", context())
    with pytest.raises(UndefinedError):
        render("{{ candidate.first_name }}", "", "", context())  # no fallback, no value


def test_a_syntax_error_names_its_part_and_line() -> None:
    with pytest.raises(TemplateError) as raised:
        validate_template({"subject": "ok", "text": "line one\n{% if %}"})
    [(part, message)] = raised.value.errors
    assert part == "text"
    assert message.startswith("line 2")
