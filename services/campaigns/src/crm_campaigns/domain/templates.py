"""Message templates: merge fields with fallbacks, employer-branding blocks, rendered in a sandbox.

Templates are Jinja2 (`{{ candidate.first_name | default("there") }}`) rendered by the sandboxed
environment. Everything a template may use is checked when it is saved, so a typo is an error
then, not a blank in a candidate's inbox, and an injection attempt never reaches the renderer:

- names: only `candidate`, `sender` and `blocks`, and only their documented fields, one level
  deep (`candidate.first_name`, `blocks.footer`); no `[...]` subscripts;
- filters: only the text filters in `ALLOWED_FILTERS` (no `attr`, `map`, `format`, ...);
- no calls, no `include`/`import`/`extends`/`macro`/`set`/`for` (nothing that reaches code).

`{{ unsubscribe_url }}` and `{{ preferences_url }}` are the message's signed links (a footer
with them is added to any marketing message whose template lacks them).

A block is a reusable piece (an employer-branding footer, a signature) saved once per tenant
with an html and a text part and included as `{{ blocks.<key> }}` in a template's html or text;
its own merge fields are rendered for the recipient first. Blocks cannot include blocks.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, nodes
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup

from crm_campaigns.domain.contact_links import ContactLinks
from crm_campaigns.domain.models import Recipient

MERGE_FIELDS: dict[str, frozenset[str]] = {
    "candidate": frozenset(
        {"first_name", "last_name", "email", "current_title", "current_company", "location"}
    ),
    "sender": frozenset({"name"}),
}
BLOCKS = "blocks"
ALLOWED_FILTERS = frozenset(
    {"default", "d", "upper", "lower", "title", "capitalize", "trim", "truncate", "escape", "e"}
)
ALLOWED_TESTS = frozenset({"defined", "undefined", "none"})
# Statements and expressions that reach code or other templates.
FORBIDDEN_NODES: dict[type[nodes.Node], str] = {
    nodes.Call: "function calls are not allowed",
    nodes.Include: "include is not allowed; use {{ blocks.<key> }}",
    nodes.Import: "import is not allowed",
    nodes.FromImport: "import is not allowed",
    nodes.Extends: "extends is not allowed",
    nodes.Macro: "macros are not allowed",
    nodes.CallBlock: "call blocks are not allowed",
    nodes.Assign: "set is not allowed",
    nodes.AssignBlock: "set is not allowed",
    nodes.For: "loops are not allowed",
    nodes.FilterBlock: "filter blocks are not allowed",
    nodes.With: "with is not allowed",
}
# Plain values rather than objects: `{{ unsubscribe_url }}`.
LINK_FIELDS = frozenset({"unsubscribe_url", "preferences_url"})

_environment = SandboxedEnvironment(autoescape=False, undefined=StrictUndefined)
_html_environment = SandboxedEnvironment(autoescape=True, undefined=StrictUndefined)


class TemplateError(ValueError):
    """A template does not parse or uses something it may not."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{part}: {message}" for part, message in errors))
        self.errors = errors


def _problems(source: str, block_keys: Collection[str] | None) -> list[str]:
    tree = _environment.parse(source)
    allowed = dict(MERGE_FIELDS)
    if block_keys is not None:
        allowed[BLOCKS] = frozenset(block_keys)
    problems: list[str] = []
    for node_type, problem in FORBIDDEN_NODES.items():
        if any(True for _ in tree.find_all(node_type)):
            problems.append(problem)
    for filter_node in tree.find_all(nodes.Filter):
        if filter_node.name not in ALLOWED_FILTERS:
            problems.append(f"filter {filter_node.name!r} is not allowed")
    for test_node in tree.find_all(nodes.Test):
        if test_node.name not in ALLOWED_TESTS:
            problems.append(f"test {test_node.name!r} is not allowed")
    attributes = {id(node.node) for node in tree.find_all(nodes.Getattr)}
    for name in tree.find_all(nodes.Name):
        if name.name in LINK_FIELDS:
            if id(name) in attributes:
                problems.append(f"{name.name!r} has no fields")
        elif name.name not in allowed:
            problems.append(f"unknown merge field {name.name!r}")
        elif id(name) not in attributes:
            problems.append(f"{name.name!r} needs a field, e.g. {name.name}.first_name")
    for getattr_node in tree.find_all(nodes.Getattr):
        if isinstance(getattr_node.node, nodes.Name):
            namespace = getattr_node.node.name
            if namespace in allowed and getattr_node.attr not in allowed[namespace]:
                kind = "block" if namespace == BLOCKS else "merge field"
                problems.append(f"unknown {kind} {namespace}.{getattr_node.attr}")
        else:
            problems.append("merge fields are one level deep, e.g. candidate.first_name")
    if any(True for _ in tree.find_all(nodes.Getitem)):
        problems.append("use candidate.field, not candidate['field']")
    return problems


def validate_template(
    parts: Mapping[str, str], *, block_keys: Collection[str] = (), blocks_in: Collection[str] = ()
) -> None:
    """Raises `TemplateError` naming each part whose syntax, merge fields or blocks are wrong.

    `block_keys` are the tenant's blocks; only the parts named in `blocks_in` may use them.
    """
    errors: list[tuple[str, str]] = []
    for part, source in parts.items():
        keys = block_keys if part in blocks_in else None
        try:
            errors.extend((part, problem) for problem in _problems(source, keys))
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


@dataclass(frozen=True)
class BlockSource:
    """A block's two parts, as saved."""

    html: str
    text: str


@lru_cache(maxsize=256)
def _compiled_text(source: str) -> Template:
    """A subject line compiled once (A/B variants render the same few subjects many times)."""
    return _environment.from_string(source)


def _blocks_used(source: str) -> set[str]:
    """The keys of the blocks a (validated) part includes as `blocks.<key>`."""
    return {
        node.attr
        for node in _environment.parse(source).find_all(nodes.Getattr)
        if isinstance(node.node, nodes.Name) and node.node.name == BLOCKS
    }


class _BlockPart:
    """One part of a block, compiled; rendered once per sender when it names nothing else.

    A tenant has many blocks and a recipient's context differs only in `candidate` and the
    links, so a block that names neither (a branding footer, a signature) is the same for every
    recipient of a broadcast: rendering it once instead of per message is a large share of a
    broadcast's rendering time.
    """

    def __init__(self, environment: SandboxedEnvironment, source: str) -> None:
        self._template = environment.from_string(source)
        names = {node.name for node in environment.parse(source).find_all(nodes.Name)}
        self._per_sender = names <= {"sender"}
        self._rendered: dict[tuple[tuple[str, Any], ...], str] = {}

    def render(self, context: dict[str, Any]) -> str:
        if not self._per_sender:
            return self._template.render(context)
        sender = tuple(sorted(context.get("sender", {}).items()))
        rendered = self._rendered.get(sender)
        if rendered is None:
            rendered = self._rendered[sender] = self._template.render(context)
        return rendered


class CompiledTemplate:
    """A validated template compiled once, rendered for many recipients."""

    def __init__(
        self, subject: str, html: str, text: str, blocks: Mapping[str, BlockSource] | None = None
    ) -> None:
        self._subject = _environment.from_string(subject)
        self._html = _html_environment.from_string(html)
        self._text = _environment.from_string(text)
        # Only the blocks this template includes: the tenant's others are never rendered.
        available = blocks or {}
        self._html_blocks = {
            key: _BlockPart(_html_environment, available[key].html)
            for key in _blocks_used(html) & available.keys()
        }
        self._text_blocks = {
            key: _BlockPart(_environment, available[key].text)
            for key in _blocks_used(text) & available.keys()
        }

    def render(self, context: dict[str, Any], *, subject: str | None = None) -> RenderedMessage:
        """Renders every part for one recipient; `subject` overrides the template's (A/B)."""
        subject_template = _compiled_text(subject) if subject else self._subject
        # Rendered by the autoescaping environment: its merge fields are escaped, and its own
        # HTML is the tenant's, trusted like the template's.
        html_blocks = {
            key: Markup(part.render(context))  # noqa: S704
            for key, part in self._html_blocks.items()
        }
        text_blocks = {key: part.render(context) for key, part in self._text_blocks.items()}
        return RenderedMessage(
            subject=" ".join(subject_template.render(context).split()),
            html=self._html.render({**context, BLOCKS: html_blocks}),
            text=self._text.render({**context, BLOCKS: text_blocks}),
        )


def render(
    subject: str,
    html: str,
    text: str,
    context: dict[str, Any],
    blocks: Mapping[str, BlockSource] | None = None,
) -> RenderedMessage:
    """Renders the parts of a (validated) template with the recipient's context."""
    return CompiledTemplate(subject, html, text, blocks).render(context)


def recipient_context(
    recipient: Recipient, sender_name: str = "", links: ContactLinks | None = None
) -> dict[str, Any]:
    """The documented merge context; missing values are undefined so `default()` applies."""
    candidate = recipient.model_dump(include=set(MERGE_FIELDS["candidate"]))
    context: dict[str, Any] = {
        "candidate": {key: value for key, value in candidate.items() if value},
        "sender": {"name": sender_name} if sender_name else {},
    }
    if links is not None:
        context |= {
            "unsubscribe_url": links.unsubscribe_url,
            "preferences_url": links.preferences_url,
        }
    return context
