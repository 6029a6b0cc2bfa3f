"""Templates render merge fields with fallbacks, in a sandbox, and refuse unknown fields."""

from __future__ import annotations

import pytest
from jinja2.exceptions import SecurityError

from crm_campaigns.domain.models import Recipient
from crm_campaigns.domain.templates import (
    LINK_FIELDS,
    MAX_RENDERED_CHARS,
    MERGE_FIELDS,
    BlockSource,
    CompiledTemplate,
    RenderError,
    TemplateError,
    merge_fields,
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
    with pytest.raises(RenderError) as raised:
        render("{{ ''.__class__.__mro__[1].__subclasses__() }}", "", "", context())
    assert isinstance(raised.value.__cause__, SecurityError)
    assert raised.value.part == "subject"


def test_a_field_without_a_value_is_empty_and_false_as_users_expect() -> None:
    # The demo's own template: a candidate without a company must still get their mail.
    template = (
        "Hi {{ candidate.first_name }}{% if candidate.current_company %} "
        "at {{ candidate.current_company }}{% endif %}!"
    )
    assert render(template, "", "", context(first_name="Zoë")).subject == "Hi Zoë!"
    assert (
        render(template, "", "", context(first_name="Zoë", current_company="Acmé")).subject
        == "Hi Zoë at Acmé!"
    )
    no_sender = render("s", "<p>{{ sender.name }}</p>", "{{ candidate.location }}.", context())
    assert (no_sender.html, no_sender.text) == ("<p></p>", ".")
    fallback = "{{ candidate.current_company | default('your team') | upper }}"
    assert render(fallback, "", "", context()).subject == "YOUR TEAM"


@pytest.mark.parametrize(
    "source", ["{{ (3 ** 8000000) % 7 }}", "{{ 'x' * 20000000 }}", "{{ 3 ** 1000000 }}"]
)
def test_operators_that_grow_without_bound_are_refused_on_save_and_by_the_renderer(
    source: str,
) -> None:
    with pytest.raises(TemplateError) as refused:
        validate_template({"html": source})
    assert "without bound" in str(refused.value)
    # A template saved before the rule: refused when compiled and rendered, without evaluating
    # (Jinja would otherwise fold the constant while compiling, blocking for minutes).
    with pytest.raises(RenderError) as raised:
        render("s", source, "t", context())
    assert raised.value.part == "html"
    assert "not allowed" in raised.value.reason


def test_a_render_error_names_the_part_line_and_merge_fields() -> None:
    with pytest.raises(RenderError) as raised:
        render(
            "s",
            "<p>Hello</p>\n<p>{{ candidate.first_name - 1 }}</p>",
            "t",
            context(first_name="Ada"),
        )
    error = raised.value
    assert (error.part, error.line, error.fields) == ("html", 2, ["candidate.first_name"])
    assert str(error).startswith("html, line 2 (candidate.first_name): ")
    # What an API error says besides its `field` and `line`: not the part and line again.
    assert error.detail == f"candidate.first_name: {error.reason}"


def test_a_rendered_part_past_the_size_limit_fails() -> None:
    big = BlockSource(html="<p>" + "y" * 100_000 + "</p>", text="y")
    source = "{{ blocks.big }}" * (MAX_RENDERED_CHARS // 100_000 + 1)
    compiled = CompiledTemplate("s", source, "t", {"big": big})
    with pytest.raises(RenderError) as raised:
        compiled.render(context())
    assert raised.value.part == "html"
    assert str(MAX_RENDERED_CHARS) in raised.value.reason


def test_a_syntax_error_names_its_part_and_line() -> None:
    with pytest.raises(TemplateError) as raised:
        validate_template({"subject": "ok", "text": "line one\n{% if %}"})
    [(part, message)] = raised.value.errors
    assert part == "text"
    assert message.startswith("line 2")
    assert [(i.part, i.line) for i in raised.value.issues] == [("text", 2)]


def test_a_syntax_error_says_its_line_once() -> None:
    # The API gives the line as `line`; the console puts "HTML body, line 2:" before the
    # message, which therefore does not start with it again.
    with pytest.raises(TemplateError) as raised:
        validate_template({"html": "<p>Hi</p>\n{{ candidate.first_name }"})
    [issue] = raised.value.issues
    assert (issue.part, issue.line) == ("html", 2)
    assert not issue.message.startswith("line")
    assert "line 2" not in issue.message
    # Where no `line` travels with it (a block, a notification step), the line is said once.
    assert raised.value.errors == [("html", f"line 2: {issue.message}")]


def test_an_unclosed_block_names_its_tag_and_the_line_it_was_opened_on() -> None:
    source = "<p>Hi</p>\n<p>{{ candidate.first_name }}</p>\n{% if candidate.city %}\n{{ x }}\n"
    with pytest.raises(TemplateError) as raised:
        validate_template({"html": source})
    [issue] = raised.value.issues
    assert issue.line == 4  # where Jinja noticed: the end of the template
    assert issue.message.startswith("the {% if %} on line 3 is not closed: add {% endif %}")
    assert "Unexpected end of template" in issue.message  # Jinja's own words stay, after it


def test_a_wrong_end_tag_names_the_block_left_open_inside() -> None:
    source = "{% for job in open_jobs %}\n{% if job.title %}\n{{ job.title }}\n{% endfor %}"
    with pytest.raises(TemplateError) as raised:
        validate_template({"html": source})
    [issue] = raised.value.issues
    assert issue.line == 4
    assert issue.message.startswith("the {% if %} on line 2 is not closed: add {% endif %}")
    assert "Encountered unknown tag 'endfor'" in issue.message


def test_an_unclosed_merge_field_names_the_line_it_was_opened_on() -> None:
    """Jinja says `unexpected '/'` or `expected token 'end of print statement'` where it
    stumbled on what followed the field; the person is told which `{{` lacks its `}}`."""
    with pytest.raises(TemplateError) as raised:
        validate_template({"html": "<p>Hi {{ candidate.first_name\n</p>"})
    [issue] = raised.value.issues
    assert issue.line == 2
    assert issue.message.startswith("the {{ on line 1 is not closed: add }} after the merge field")
    assert "unexpected '/'" in issue.message  # Jinja's own words stay, after it
    with pytest.raises(TemplateError) as raised:
        validate_template({"text": "{{ a }} and {{ b"})
    [issue] = raised.value.issues
    assert issue.message.startswith("the {{ on this line is not closed")


def test_other_syntax_errors_keep_jinjas_message() -> None:
    with pytest.raises(TemplateError) as raised:
        validate_template({"html": "<p>\n{% endif %}"})
    [issue] = raised.value.issues
    assert (issue.line, issue.message) == (2, "Encountered unknown tag 'endif'.")


def test_each_problem_names_the_line_it_is_on() -> None:
    source = (
        "<p>Hi {{ candidate.first_name }}</p>\n<p>{{ candidate.salary }}</p>\n{{ x | attr('y') }}"
    )
    with pytest.raises(TemplateError) as raised:
        validate_template({"subject": "Hi", "html": source})
    found = {(i.part, i.line, i.message) for i in raised.value.issues}
    assert ("html", 2, "unknown merge field candidate.salary") in found
    assert ("html", 3, "filter 'attr' is not allowed") in found
    assert ("html", 3, "unknown merge field 'x'") in found


def test_the_merge_field_catalogue_offers_every_field_the_validator_accepts() -> None:
    offered = merge_fields(["footer"])
    names = [field.name for field in offered]
    assert names[0] == "candidate.first_name"
    assert names[-1] == "blocks.footer"
    for field in offered:
        # Whatever the picker inserts is a valid template by itself.
        validate_template({"html": field.insert}, block_keys=["footer"], blocks_in=("html",))
        assert field.description
    expected = {f"{ns}.{name}" for ns, names_ in MERGE_FIELDS.items() for name in names_}
    assert expected | LINK_FIELDS | {"open_jobs", "blocks.footer"} == set(names)


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__ }}",
        "{{ cycler.__init__ }}",
        "{{ joiner.__init__.__globals__.os }}",
        "{{ candidate.first_name | attr('__class__') }}",
        "{{ candidate.first_name | format('%s') }}",
        "{{ candidate.first_name.upper() }}",
        "{{ lipsum() }}",
        "{% include 'block:footer' %}",
        "{% import 'x' as y %}",
        "{% extends 'base' %}",
        "{% set x = candidate.first_name %}",
        "{% macro m() %}{% endmacro %}",
        "{% if candidate.first_name is callable %}x{% endif %}",
        "{{ blocks.footer }}",
    ],
)
def test_template_injection_is_refused_on_save(source: str) -> None:
    with pytest.raises(TemplateError):
        validate_template({"html": source})


def test_blocks_render_for_the_recipient_and_only_known_blocks_pass() -> None:
    validate_template({"html": "{{ blocks.footer }}"}, block_keys=["footer"], blocks_in=["html"])
    with pytest.raises(TemplateError, match=r"unknown block blocks\.header"):
        validate_template(
            {"html": "{{ blocks.header }}"}, block_keys=["footer"], blocks_in=["html"]
        )
    with pytest.raises(TemplateError):  # not in the subject
        validate_template({"subject": "{{ blocks.footer }}"}, block_keys=["footer"])
    rendered = render(
        "s",
        "<p>x</p>{{ blocks.footer }}",
        "x {{ blocks.footer }}",
        context(first_name="<Ada>"),
        {
            "footer": BlockSource(
                "<b>Hi {{ candidate.first_name }}</b>", "Hi {{ candidate.first_name }}"
            )
        },
    )
    assert rendered.html == "<p>x</p><b>Hi &lt;Ada&gt;</b>"
    assert rendered.text == "x Hi <Ada>"


def test_a_compiled_template_renders_many_recipients_and_overrides_the_subject() -> None:
    compiled = CompiledTemplate("Hi {{ candidate.first_name | default('there') }}", "h", "t")
    assert compiled.render(context(first_name="Ada")).subject == "Hi Ada"
    assert compiled.render(context()).subject == "Hi there"
    overridden = compiled.render(
        context(first_name="Ada"), subject="News for {{ candidate.first_name }}"
    )
    assert overridden.subject == "News for Ada"


def test_blocks_render_per_recipient_or_once_per_sender_and_unused_ones_never() -> None:
    blocks = {
        "greeting": BlockSource("<b>Hi {{ candidate.first_name }}</b>", "Hi"),
        "signature": BlockSource("<i>{{ sender.name | default('The team') }}</i>", "--"),
        # Never included below: a block that cannot render must not break this template.
        "broken": BlockSource("{{ candidate.nickname }}", "{{ candidate.nickname }}"),
    }
    compiled = CompiledTemplate(
        "s", "{{ blocks.greeting }}{{ blocks.signature }}", "{{ blocks.signature }}", blocks
    )

    def for_(first_name: str, sender: str) -> str:
        recipient = Recipient(
            candidate_id=first_name, tenant_id="acme", email="x@example.org", first_name=first_name
        )
        return compiled.render(recipient_context(recipient, sender)).html

    assert for_("Ada", "Rita") == "<b>Hi Ada</b><i>Rita</i>"
    assert for_("Grace", "Rita") == "<b>Hi Grace</b><i>Rita</i>"
    assert for_("Grace", "Gus") == "<b>Hi Grace</b><i>Gus</i>"
    assert for_("Alan", "") == "<b>Hi Alan</b><i>The team</i>"


@pytest.mark.parametrize(
    ("source", "said"),
    [
        ("{{ candidate.team.name }}", "`team` has no value for this recipient"),
        ("{{ open_jobs[0].title }}", "the list has no element 0 for this recipient"),
    ],
)
def test_a_value_some_recipients_lack_is_explained_in_words_and_how_to_guard_it(
    source: str, said: str
) -> None:
    with pytest.raises(RenderError) as raised:
        render("s", source, "t", context())

    reason = raised.value.reason
    assert reason.startswith(said), reason
    assert "{% if ... %}" in reason
    assert "object" in reason.split("[", 1)[1]  # Jinja's own words kept, in brackets


def test_an_error_with_no_plainer_words_keeps_jinjas() -> None:
    with pytest.raises(RenderError) as raised:
        render("s", "{{ candidate.email - 1 }}", "t", context())

    assert raised.value.reason == "unsupported operand type(s) for -: 'str' and 'int'"


def test_a_refusal_is_said_once_and_names_what_was_subscripted() -> None:
    with pytest.raises(TemplateError) as raised:
        validate_template(
            {
                "html": "{{ candidate.custom.team.name }}\n{{ open_jobs[0].title }}\n"
                "{{ candidate['first_name'] }}"
            }
        )
    messages = [(i.line, i.message) for i in raised.value.issues]
    assert messages.count((1, "merge fields are one level deep, e.g. candidate.first_name")) == 1
    assert len(messages) == len(set(messages))
    line_2 = [message for line, message in messages if line == 2]
    assert "open_jobs is a list: use {% for job in open_jobs %} or {% if open_jobs %}" in line_2
    assert not [message for message in line_2 if "candidate[" in message]
    assert (3, "use candidate.field, not candidate[...]") in messages
