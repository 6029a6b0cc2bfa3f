"""Message templates: merge fields with fallbacks, rendered in a sandbox.

Templates are Jinja2 (`{{ candidate.first_name | default("there") }}`) rendered by the sandboxed
environment, which refuses access to anything but the documented context. Every merge field a
template uses is checked when the template is saved, so a typo is an error then, not a blank
in a candidate's inbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, nodes
from jinja2.sandbox import SandboxedEnvironment

from crm_campaigns.domain.models import Recipient

MERGE_FIELDS: dict[str, frozenset[str]] = {
    "candidate": frozenset(
        {"first_name", "last_name", "email", "current_title", "current_company", "location"}
    ),
    "sender": frozenset({"name"}),
}

_environment = SandboxedEnvironment(autoescape=False, undefined=StrictUndefined)
_html_environment = SandboxedEnvironment(autoescape=True, undefined=StrictUndefined)


class TemplateError(ValueError):
    """A template does not parse or uses a merge field that does not exist."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{part}: {message}" for part, message in errors))
        self.errors = errors


def _merge_field_errors(source: str) -> list[str]:
    tree = _environment.parse(source)
    problems: list[str] = []
    attributes = {id(node.node) for node in tree.find_all(nodes.Getattr)}
    for name in tree.find_all(nodes.Name):
        if name.name not in MERGE_FIELDS:
            problems.append(f"unknown merge field {name.name!r}")
        elif id(name) not in attributes:
            problems.append(f"{name.name!r} needs a field, e.g. {name.name}.first_name")
    for getattr_node in tree.find_all(nodes.Getattr):
        if isinstance(getattr_node.node, nodes.Name):
            allowed = MERGE_FIELDS.get(getattr_node.node.name, frozenset())
            if getattr_node.node.name in MERGE_FIELDS and getattr_node.attr not in allowed:
                problems.append(
                    f"unknown merge field {getattr_node.node.name}.{getattr_node.attr!r}"
                )
        else:
            problems.append("merge fields are one level deep, e.g. candidate.first_name")
    if any(True for _ in tree.find_all(nodes.Getitem)):
        problems.append("use candidate.field, not candidate['field']")
    return problems


def validate_template(parts: dict[str, str]) -> None:
    """Raises `TemplateError` naming each part whose syntax or merge fields are wrong."""
    errors: list[tuple[str, str]] = []
    for part, source in parts.items():
        try:
            errors.extend((part, problem) for problem in _merge_field_errors(source))
        except TemplateSyntaxError as error:
            errors.append((part, f"line {error.lineno}: {error.message}"))
    if errors:
        raise TemplateError(errors)


@dataclass(frozen=True)
class RenderedMessage:
    """A template rendered for one recipient."""

    subject: str
    html: str
    text: str


def render(subject: str, html: str, text: str, context: dict[str, Any]) -> RenderedMessage:
    """Renders the parts of a (validated) template with the recipient's context."""
    return RenderedMessage(
        subject=" ".join(_environment.from_string(subject).render(context).split()),
        html=_html_environment.from_string(html).render(context),
        text=_environment.from_string(text).render(context),
    )


def recipient_context(recipient: Recipient, sender_name: str = "") -> dict[str, Any]:
    """The documented merge context; missing values are undefined so `default()` applies."""
    candidate = recipient.model_dump(include=set(MERGE_FIELDS["candidate"]))
    return {
        "candidate": {key: value for key, value in candidate.items() if value},
        "sender": {"name": sender_name} if sender_name else {},
    }
