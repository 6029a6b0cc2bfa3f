"""Message templates: merge fields with fallbacks, employer-branding blocks, rendered in a sandbox.

Templates are Jinja2 (`{{ candidate.first_name | default("there") }}`) rendered by the sandboxed
environment. Everything a template may use is checked when it is saved, so a typo is an error
then, not a blank in a candidate's inbox, and an injection attempt never reaches the renderer:

- names: only `candidate`, `sender`, `blocks` and `open_jobs` (with `job` in its loop), and only
  their documented fields, one level deep (`candidate.first_name`, `blocks.footer`); no `[...]`
  subscripts. The one path two levels deep is a custom field of the tenant's,
  `candidate.custom_fields.<key>`, spelt as candidate profiles, segment rules and imports spell
  it, and checked against the fields the tenant has defined (`CustomField`);
- filters: only the text filters in `ALLOWED_FILTERS` (no `attr`, `map`, `format`, ...);
- no calls, no `include`/`import`/`extends`/`macro`/`set` (nothing that reaches code);
- one loop only: `{% for job in open_jobs %}...{% else %}...{% endfor %}`, not nested, reading
  only `job.name`, `job.departments` and `job.locations`; `open_jobs` is otherwise only tested
  (`{% if open_jobs %}`). It holds at most `MAX_OPEN_JOBS` jobs (see `crm_campaigns.domain.jobs`
  for which), so a loop cannot grow a message without bound;
- no `*`, `**` or `%`: the operators whose result can grow without bound from a short template
  (`{{ 'x' * 20000000 }}`, `{{ 3 ** 8000000 }}`); the renderer refuses them too, for templates
  saved before this rule.

A merge field without a value (a candidate with no company) is empty and false, so
`{% if candidate.current_company %}` and `{{ candidate.current_company | default("your team") }}`
behave as a user expects; an unknown field is refused when the template is saved, not rendered
blank. A render that still fails (a type error, a part past `MAX_RENDERED_CHARS`) raises
`RenderError` naming the part, the line and the merge fields on it.

`{{ unsubscribe_url }}` and `{{ preferences_url }}` are the message's signed links (a footer
with them is added to any marketing message whose template lacks them).

A block is a reusable piece (an employer-branding footer, a signature) saved once per tenant
with an html and a text part and included as `{{ blocks.<key> }}` in a template's html or text;
its own merge fields are rendered for the recipient first. Blocks cannot include blocks.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any

from jinja2 import Template, TemplateSyntaxError, Undefined, nodes
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup

from crm_campaigns.domain.contact_links import ContactLinks
from crm_campaigns.domain.jobs import JOB_FIELDS, MAX_OPEN_JOBS, Job, open_jobs_context
from crm_campaigns.domain.models import CustomField, Recipient

MERGE_FIELDS: dict[str, frozenset[str]] = {
    "candidate": frozenset(
        {"first_name", "last_name", "email", "current_title", "current_company", "location"}
    ),
    "sender": frozenset({"name"}),
}
BLOCKS = "blocks"
# `candidate.custom_fields.<key>`: the tenant's custom fields, under the name candidate
# profiles, segment rules (`custom_fields.<key>`) and imports give them.
CUSTOM_FIELDS = "custom_fields"
# What the picker says of each type's value as a template prints it (`custom_value`).
CUSTOM_FIELD_RENDERING: dict[str, str] = {
    "string": "text",
    "number": "a number",
    "boolean": "yes or no (test it with {% if %})",
    "date": "a date, YYYY-MM-DD",
    "enum": "one of its choices",
    "multi_enum": "its choices, joined with commas",
}
OPEN_JOBS = "open_jobs"
JOB = "job"
OPEN_JOBS_LOOP = (
    "{% for job in open_jobs %}{{ job.name }} ({{ job.locations }})\n"
    "{% else %}No open roles match right now.{% endfor %}"
)
# What each merge field holds, for the editor's merge-field picker (`GET /templates/merge-fields`).
MERGE_FIELD_DESCRIPTIONS: dict[str, str] = {
    "candidate.first_name": "The candidate's first name",
    "candidate.last_name": "The candidate's last name",
    "candidate.email": "The address the mail goes to",
    "candidate.current_title": "The candidate's current job title",
    "candidate.current_company": "The candidate's current employer",
    "candidate.location": "Where the candidate lives",
    "sender.name": "The sender's display name",
    "unsubscribe_url": "The recipient's signed unsubscribe link",
    "preferences_url": "The recipient's signed link to their mail preferences",
    OPEN_JOBS: f"Up to {MAX_OPEN_JOBS} open ATS jobs matching the recipient's location or "
    "skills, newest first; loop over them, each with job.name, job.departments and "
    "job.locations; the else part shows when none match",
}
# What the picker inserts where a plain `{{ name }}` would not do.
MERGE_FIELD_INSERTS: dict[str, str] = {OPEN_JOBS: OPEN_JOBS_LOOP}
# The filters an editor offers; Jinja's short aliases of two of them are allowed as well.
OFFERED_FILTERS = frozenset(
    {"default", "upper", "lower", "title", "capitalize", "trim", "truncate", "escape"}
)
ALLOWED_FILTERS = OFFERED_FILTERS | {"d", "e"}
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
    nodes.FilterBlock: "filter blocks are not allowed",
    nodes.With: "with is not allowed",
    nodes.Mul: "* is not allowed (it can grow a message without bound)",
    nodes.Pow: "** is not allowed (it can grow a message without bound)",
    nodes.Mod: "% is not allowed (it can grow a message without bound)",
}
# The operators behind the nodes above, refused by the renderer as well.
UNBOUNDED_OPERATORS = frozenset({"*", "**", "%"})
# A rendered part longer than this fails its message: no inbox takes it, and it would only have
# come from a template that repeats a large merge value or block.
MAX_RENDERED_CHARS = 1_000_000
MAX_SUBJECT_CHARS = 998
# Plain values rather than objects: `{{ unsubscribe_url }}`.
LINK_FIELDS = frozenset({"unsubscribe_url", "preferences_url"})


@dataclass(frozen=True)
class MergeField:
    """A name a template may use, as the editor offers it."""

    name: str
    description: str
    # What to type: `{{ candidate.first_name }}`.
    insert: str


def merge_fields(
    block_keys: Collection[str] = (), custom_fields: Sequence[CustomField] = ()
) -> list[MergeField]:
    """Every merge field, custom field (of `custom_fields`, deleted ones left out), link and
    block (of `block_keys`) a template may use, in that order."""
    fields = [
        MergeField(name, description, MERGE_FIELD_INSERTS.get(name, f"{{{{ {name} }}}}"))
        for name, description in MERGE_FIELD_DESCRIPTIONS.items()
    ]
    fields += [
        MergeField(
            f"candidate.{CUSTOM_FIELDS}.{field.key}",
            f"Custom field: {field.label} "
            f"({CUSTOM_FIELD_RENDERING.get(field.type, 'its value')}; empty when not set)",
            f"{{{{ candidate.{CUSTOM_FIELDS}.{field.key} }}}}",
        )
        for field in custom_fields
        if not field.deleted
    ]
    fields += [
        MergeField(
            f"{BLOCKS}.{key}",
            "A saved block (html and text parts only)",
            f"{{{{ {BLOCKS}.{key} }}}}",
        )
        for key in sorted(block_keys)
    ]
    return fields


class _BoundedEnvironment(SandboxedEnvironment):
    """The sandbox, refusing the operators that can grow a result without bound.

    Intercepting them also stops Jinja from folding `3 ** 8000000` when it compiles a template,
    which would otherwise block the event loop before any render.
    """

    intercepted_binops = UNBOUNDED_OPERATORS

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        raise SecurityError(f"the operator {operator} is not allowed in templates")


# Plain `Undefined`: a field without a value renders empty and tests false; unknown fields never
# get here, since saving a template checks every name it uses.
_environment = _BoundedEnvironment(autoescape=False, undefined=Undefined)
_html_environment = _BoundedEnvironment(autoescape=True, undefined=Undefined)


@dataclass(frozen=True)
class TemplateIssue:
    """One thing wrong with a template part, and the line of that part it is on (1-based).

    `message` does not repeat the line (an API error carries it as `line`, and the console says
    "HTML body, line 4: ..."); `said` is the message with its line, for a reader without one."""

    part: str
    message: str
    line: int | None = None

    @property
    def said(self) -> str:
        return self.message if self.line is None else f"line {self.line}: {self.message}"


class TemplateError(ValueError):
    """A template does not parse or uses something it may not; `issues` say on which line."""

    def __init__(
        self, errors: list[tuple[str, str]], *, issues: list[TemplateIssue] | None = None
    ) -> None:
        super().__init__("; ".join(f"{part}: {message}" for part, message in errors))
        # (part, message with its line): for errors that carry no line of their own.
        self.errors = errors
        self.issues = issues or [TemplateIssue(part, message) for part, message in errors]


# A problem found in a part's source, with the line of the node it was found at.
_Found = tuple[str, int | None]


def _loop_problems(loop: nodes.For) -> list[_Found]:
    """What is wrong with a `{% for %}`: only `{% for job in open_jobs %}`, plain, not nested."""
    problems: list[_Found] = []
    if not (
        isinstance(loop.iter, nodes.Name)
        and loop.iter.name == OPEN_JOBS
        and isinstance(loop.target, nodes.Name)
        and loop.target.name == JOB
    ):
        problems.append(("the only loop is {% for job in open_jobs %}", loop.lineno))
    if loop.test is not None or loop.recursive:
        problems.append(("loops take no filter and are not recursive", loop.lineno))
    if any(True for _ in loop.find_all(nodes.For)):
        problems.append(("loops cannot be nested", loop.lineno))
    return problems


def _names_in(found: Iterable[nodes.Node]) -> set[int]:
    return {id(name) for node in found for name in node.find_all(nodes.Name)} | {
        id(node) for node in found if isinstance(node, nodes.Name)
    }


def _custom_field_problems(
    tree: nodes.Template, custom_keys: Collection[str], deleted_keys: Collection[str]
) -> tuple[list[_Found], set[int]]:
    """What is wrong with the template's `candidate.custom_fields...` paths, and the ids of the
    attribute nodes they are made of (checked here, not as one-level merge fields)."""
    problems: list[_Found] = []
    handled: set[int] = set()
    for node in tree.find_all(nodes.Getattr):
        inner = node.node
        if not (_is_custom_fields(inner) and isinstance(inner, nodes.Getattr)):
            continue
        handled |= {id(node), id(inner)}
        name = f"candidate.{CUSTOM_FIELDS}.{node.attr}"
        if node.attr in deleted_keys and node.attr not in custom_keys:
            problems.append(
                (
                    f"custom field {name} was deleted: restore it (custom fields settings) or "
                    "leave it out",
                    node.lineno,
                )
            )
        elif node.attr not in custom_keys:
            problems.append((f"unknown custom field {name}", node.lineno))
    for node in tree.find_all(nodes.Getattr):
        if _is_custom_fields(node) and id(node) not in handled:
            handled.add(id(node))
            problems.append(
                (
                    f"candidate.{CUSTOM_FIELDS} needs a field's key, e.g. "
                    f"candidate.{CUSTOM_FIELDS}.<key>",
                    node.lineno,
                )
            )
    return problems, handled


def _is_custom_fields(node: nodes.Node) -> bool:
    """Whether the node is `candidate.custom_fields`."""
    return (
        isinstance(node, nodes.Getattr)
        and node.attr == CUSTOM_FIELDS
        and isinstance(node.node, nodes.Name)
        and node.node.name == "candidate"
    )


def _problems(
    source: str,
    block_keys: Collection[str] | None,
    custom_keys: Collection[str] = (),
    deleted_keys: Collection[str] = (),
) -> list[_Found]:
    tree = _environment.parse(source)
    allowed = dict(MERGE_FIELDS)
    allowed[JOB] = JOB_FIELDS
    if block_keys is not None:
        allowed[BLOCKS] = frozenset(block_keys)
    problems: list[_Found] = []
    loops = list(tree.find_all(nodes.For))
    for loop in loops:
        problems.extend(_loop_problems(loop))
    loop_targets = {id(loop.target) for loop in loops}
    in_loops = _names_in([node for loop in loops for node in loop.body])
    # `open_jobs` is a list: looped over or tested, never printed or dug into.
    tests: list[nodes.Node] = [node.test for node in tree.find_all(nodes.If)]
    tests += [node.test for node in tree.find_all(nodes.CondExpr) if node.test is not None]
    open_jobs_uses = {id(loop.iter) for loop in loops} | _names_in(tests)
    for node_type, problem in FORBIDDEN_NODES.items():
        first = next(iter(tree.find_all(node_type)), None)
        if first is not None:
            problems.append((problem, first.lineno))
    for filter_node in tree.find_all(nodes.Filter):
        if filter_node.name not in ALLOWED_FILTERS:
            problems.append((f"filter {filter_node.name!r} is not allowed", filter_node.lineno))
    for test_node in tree.find_all(nodes.Test):
        if test_node.name not in ALLOWED_TESTS:
            problems.append((f"test {test_node.name!r} is not allowed", test_node.lineno))
    attributes = {id(node.node) for node in tree.find_all(nodes.Getattr)}
    for name in tree.find_all(nodes.Name):
        if id(name) in loop_targets:
            continue
        if name.name == OPEN_JOBS:
            if id(name) not in open_jobs_uses:
                problems.append(
                    (
                        "open_jobs is a list: use {% for job in open_jobs %} or {% if open_jobs %}",
                        name.lineno,
                    )
                )
        elif name.name == JOB and id(name) not in in_loops:
            problems.append(("job is only known inside {% for job in open_jobs %}", name.lineno))
        elif name.name in LINK_FIELDS:
            if id(name) in attributes:
                problems.append((f"{name.name!r} has no fields", name.lineno))
        elif name.name not in allowed:
            problems.append((f"unknown merge field {name.name!r}", name.lineno))
        elif id(name) not in attributes:
            example = "name" if name.name == JOB else "first_name"
            problems.append(
                (f"{name.name!r} needs a field, e.g. {name.name}.{example}", name.lineno)
            )
    custom_problems, custom_nodes = _custom_field_problems(tree, custom_keys, deleted_keys)
    problems.extend(custom_problems)
    for getattr_node in tree.find_all(nodes.Getattr):
        if id(getattr_node) in custom_nodes:
            continue
        if isinstance(getattr_node.node, nodes.Name):
            namespace = getattr_node.node.name
            if namespace in allowed and getattr_node.attr not in allowed[namespace]:
                kind = "block" if namespace == BLOCKS else "merge field"
                problem = f"unknown {kind} {namespace}.{getattr_node.attr}"
                if namespace == "candidate" and getattr_node.attr in custom_keys:
                    # A natural first guess for a custom field: say where it is.
                    problem += (
                        f"; the custom field is candidate.{CUSTOM_FIELDS}.{getattr_node.attr}"
                    )
                problems.append((problem, getattr_node.lineno))
        else:
            problems.append(
                ("merge fields are one level deep, e.g. candidate.first_name", getattr_node.lineno)
            )
    for item in tree.find_all(nodes.Getitem):
        subscripted = item.node.name if isinstance(item.node, nodes.Name) else "candidate"
        if subscripted == OPEN_JOBS:
            continue  # "open_jobs is a list: ..." said above
        problems.append((f"use {subscripted}.field, not {subscripted}[...]", item.lineno))
    # One problem once: `a.b.c.d` digs two levels too deep, and says so once for its line.
    return list(dict.fromkeys(problems))


def validate_template(
    parts: Mapping[str, str],
    *,
    block_keys: Collection[str] = (),
    blocks_in: Collection[str] = (),
    custom_fields: Collection[CustomField] = (),
) -> None:
    """Raises `TemplateError` naming each part whose syntax, merge fields or blocks are wrong.

    `block_keys` are the tenant's blocks; only the parts named in `blocks_in` may use them.
    `custom_fields` are the tenant's (deleted ones too, to say so): every part may use the live
    ones as `candidate.custom_fields.<key>`.
    """
    live = {field.key for field in custom_fields if not field.deleted}
    deleted = {field.key for field in custom_fields if field.deleted}
    issues: list[TemplateIssue] = []
    for part, source in parts.items():
        keys = block_keys if part in blocks_in else None
        try:
            issues.extend(
                TemplateIssue(part, msg, line)
                for msg, line in _problems(source, keys, live, deleted)
            )
        except TemplateSyntaxError as error:
            issues.append(TemplateIssue(part, syntax_reason(error, source), error.lineno))
    if issues:
        raise TemplateError([(issue.part, issue.said) for issue in issues], issues=issues)


# Jinja's last sentence when a block is left open: "The innermost block that needs to be closed
# is 'if'." (after "Unexpected end of template." or "Encountered unknown tag 'endfor'.").
_INNERMOST = re.compile(r"The innermost block that needs to be closed is '(\w+)'\.")
# Jinja's tags that open a block closed by `end<tag>` (`set` only without `=`).
_BLOCK_TAGS = frozenset(
    {"if", "for", "macro", "call", "filter", "set", "with", "autoescape", "block", "trans"}
)


def syntax_reason(error: TemplateSyntaxError, source: str) -> str:
    """Jinja's message for a syntax error, without the line (the error carries it). For a block
    left open, first which tag it is and the line it was opened on: Jinja names the tag but marks
    where it noticed (the end of the template, or an end tag that closes something else)."""
    message = error.message or str(error)
    found = _INNERMOST.search(message)
    if found is None:
        opened = _unclosed_print_line(source, error.lineno)
        if opened is None:
            return message
        where = " on this line" if opened == error.lineno else f" on line {opened}"
        return f"the {{{{{where} is not closed: add }}}} after the merge field [{message}]"
    tag = found.group(1)
    opened = _open_block_line(source, tag)
    if opened is None:
        where = ""
    elif opened == error.lineno:
        where = " on this line"
    else:
        where = f" on line {opened}"
    return f"the {{% {tag} %}}{where} is not closed: add {{% end{tag} %}} where it ends [{message}]"


def _unclosed_print_line(source: str, lineno: int) -> int | None:
    """The line of a `{{` left without its `}}` before the end of line `lineno` (where Jinja
    stumbled on what followed it: `unexpected '<'`, `expected token 'end of print
    statement'`), or None."""
    text = "\n".join(source.splitlines()[:lineno])
    start = text.rfind("{{")
    if start < 0 or "}}" in text[start:]:
        return None
    return text.count("\n", 0, start) + 1


def _open_block_line(source: str, tag: str) -> int | None:
    """The line of the innermost `{% tag %}` still open where the nesting goes wrong: at the
    end of the source, or at the first end tag that closes something else."""
    try:
        tokens = list(_environment.lex(source))
    except TemplateSyntaxError:
        return None
    open_blocks: list[tuple[str, int]] = []
    index = 0
    while index < len(tokens):
        line, kind, _ = tokens[index]
        index += 1
        if kind != "block_begin":
            continue
        words: list[str] = []
        while index < len(tokens) and tokens[index][1] != "block_end":
            if tokens[index][1] != "whitespace":
                words.append(tokens[index][2])
            index += 1
        if not words:
            continue
        name = words[0]
        if name.startswith("end"):
            if not open_blocks or open_blocks[-1][0] != name[3:]:
                break  # the nesting mistake Jinja reports
            open_blocks.pop()
        elif name in _BLOCK_TAGS and not (name == "set" and "=" in words):
            open_blocks.append((name, line))
    return next((line for name, line in reversed(open_blocks) if name == tag), None)


class RenderError(ValueError):
    """A saved template could not be rendered for one recipient: which part, where, and why."""

    def __init__(self, part: str, line: int | None, fields: list[str], reason: str) -> None:
        where = part if line is None else f"{part}, line {line}"
        if fields:
            where += f" ({', '.join(fields)})"
        super().__init__(f"{where}: {reason}")
        self.part = part
        self.line = line
        self.fields = fields
        self.reason = reason

    @property
    def detail(self) -> str:
        """Why, with the merge fields of the line but not the part and line (an API error
        carries those as `field` and `line`)."""
        return f"{', '.join(self.fields)}: {self.reason}" if self.fields else self.reason


def _template_line(error: BaseException) -> int | None:
    """The template line an error was raised on: Jinja rewrites tracebacks so that the frames of
    template code carry the template's own line numbers."""
    line = None
    frame = error.__traceback__
    while frame is not None:
        if frame.tb_frame.f_code.co_filename == "<template>":
            line = frame.tb_lineno
        frame = frame.tb_next
    return line


def _fields_on_line(source: str, line: int | None) -> list[str]:
    """The merge fields a template uses on one line, to name them in an error."""
    if line is None:
        return []
    try:
        tree = _environment.parse(source)
    except TemplateSyntaxError:
        return []
    fields: set[str] = set()
    for node in tree.find_all(nodes.Getattr):
        if node.lineno != line or _is_custom_fields(node):
            continue
        if isinstance(node.node, nodes.Name):
            fields.add(f"{node.node.name}.{node.attr}")
        elif _is_custom_fields(node.node):
            fields.add(f"candidate.{CUSTOM_FIELDS}.{node.attr}")
    return sorted(fields)


_MISSING_ATTRIBUTE = re.compile(r"^'?\w+ object'? has no attribute '([^']*)'$")
_MISSING_ELEMENT = re.compile(r"^'?\w+ object'? has no element (.+)$")
_NOT_ITERABLE = re.compile(r"^'NoneType' object is not iterable$")
# Said after each explanation below: how a template copes with a value some recipients lack.
_GUARD = "guard it with {% if ... %} or give it a default (`| default(...)`)"


def render_reason(error: Exception) -> str:
    """Why a template failed for one recipient, in a recruiter's words where Jinja's are a
    Python type's (`'dict object' has no attribute 'team'`), with Jinja's own in brackets."""
    text = str(error)
    explained: str | None = None
    if isinstance(error, UndefinedError):
        if found := _MISSING_ATTRIBUTE.match(text):
            explained = (
                f"`{found.group(1)}` has no value for this recipient, where the template needs "
                f"one (a field or method of it, or arithmetic with it)"
            )
        elif found := _MISSING_ELEMENT.match(text):
            explained = f"the list has no element {found.group(1)} for this recipient"
    elif isinstance(error, TypeError) and _NOT_ITERABLE.match(text):
        explained = "a field without a value for this recipient is used as a list"
    if explained is None:
        return text
    return f"{explained}: {_GUARD} [{text}]"


def _render_part(part: str, source: str, template: Template, context: dict[str, Any]) -> str:
    """One part rendered, or a `RenderError` saying where and why it failed."""
    try:
        rendered = template.render(context)
    except Exception as error:
        line = _template_line(error)
        fields = _fields_on_line(source, line)
        raise RenderError(part, line, fields, render_reason(error)) from error
    if len(rendered) > MAX_RENDERED_CHARS:
        raise RenderError(
            part, None, [], f"the rendered text exceeds {MAX_RENDERED_CHARS} characters"
        )
    return rendered


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


def blocks_used(source: str) -> set[str]:
    """The keys of the blocks a (validated) part includes as `blocks.<key>`."""
    return {
        node.attr
        for node in _environment.parse(source).find_all(nodes.Getattr)
        if isinstance(node.node, nodes.Name) and node.node.name == BLOCKS
    }


class _BlockPart:
    """One part of a block, compiled; rendered once per sender when it names nothing else.

    A tenant has many blocks and a recipient's context differs only in `candidate`, `open_jobs`
    and the links, so a block that names none of them (a branding footer, a signature) is the
    same for every recipient of a broadcast: rendering it once instead of per message is a large
    share of a broadcast's rendering time.
    """

    def __init__(self, environment: SandboxedEnvironment, key: str, source: str) -> None:
        self._part = f"{BLOCKS}.{key}"
        self._source = source
        self._template = environment.from_string(source)
        names = {node.name for node in environment.parse(source).find_all(nodes.Name)}
        self._per_sender = names <= {"sender"}
        self._rendered: dict[tuple[tuple[str, Any], ...], str] = {}

    def render(self, context: dict[str, Any]) -> str:
        if not self._per_sender:
            return _render_part(self._part, self._source, self._template, context)
        sender = tuple(sorted(context.get("sender", {}).items()))
        rendered = self._rendered.get(sender)
        if rendered is None:
            rendered = _render_part(self._part, self._source, self._template, context)
            self._rendered[sender] = rendered
        return rendered


class CompiledTemplate:
    """A validated template compiled once, rendered for many recipients."""

    def __init__(
        self, subject: str, html: str, text: str, blocks: Mapping[str, BlockSource] | None = None
    ) -> None:
        self._sources = {"subject": subject, "html": html, "text": text}
        self._subject = _environment.from_string(subject)
        self._html = _html_environment.from_string(html)
        self._text = _environment.from_string(text)
        # Only the blocks this template includes: the tenant's others are never rendered.
        available = blocks or {}
        self._html_blocks = {
            key: _BlockPart(_html_environment, key, available[key].html)
            for key in blocks_used(html) & available.keys()
        }
        self._text_blocks = {
            key: _BlockPart(_environment, key, available[key].text)
            for key in blocks_used(text) & available.keys()
        }

    def render(self, context: dict[str, Any], *, subject: str | None = None) -> RenderedMessage:
        """Renders every part for one recipient; `subject` overrides the template's (A/B).

        Raises `RenderError` when a part cannot be rendered for this recipient.
        """
        subject_template = _compiled_text(subject) if subject else self._subject
        subject_source = subject or self._sources["subject"]
        # Rendered by the autoescaping environment: its merge fields are escaped, and its own
        # HTML is the tenant's, trusted like the template's.
        html_blocks = {
            key: Markup(part.render(context))  # noqa: S704
            for key, part in self._html_blocks.items()
        }
        text_blocks = {key: part.render(context) for key, part in self._text_blocks.items()}
        rendered_subject = " ".join(
            _render_part("subject", subject_source, subject_template, context).split()
        )
        if len(rendered_subject) > MAX_SUBJECT_CHARS:
            raise RenderError(
                "subject", None, [], f"the subject exceeds {MAX_SUBJECT_CHARS} characters"
            )
        return RenderedMessage(
            subject=rendered_subject,
            html=_render_part(
                "html", self._sources["html"], self._html, {**context, BLOCKS: html_blocks}
            ),
            text=_render_part(
                "text", self._sources["text"], self._text, {**context, BLOCKS: text_blocks}
            ),
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


def uses_open_jobs(*sources: str) -> bool:
    """Whether any of these parts (a template's, its blocks') may list open jobs, so a sender
    loads the tenant's jobs only for the templates that need them."""
    return any(OPEN_JOBS in source for source in sources)


class CustomValue:
    """A yes/no custom field as a template sees it: prints `yes` or `no`, and tests true or
    false in `{% if %}` (a bare Python bool would print `True`)."""

    __slots__ = ("_value",)

    def __init__(self, value: bool) -> None:
        self._value = value

    def __bool__(self) -> bool:
        return self._value

    def __str__(self) -> str:
        return "yes" if self._value else "no"


class CustomValues:
    """A candidate's custom field values by key, as `candidate.custom_fields.<key>` reads them.

    Not a dict: Jinja looks a name up as an attribute first, so a field keyed `items` or `keys`
    would print a dict's method instead of its value. Keys never start with `_` (the candidates
    service allows `[a-z][a-z0-9_]*`), so the one attribute here cannot be reached either."""

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, Any]) -> None:
        self._values = values

    def __getitem__(self, key: str) -> Any:
        return self._values[key]


def custom_value(value: Any) -> Any:
    """A custom field's stored value as a template prints it, or None for no value (left out,
    so it prints as nothing, tests false and takes `default()`): text and a choice as they
    are, a date as stored (`YYYY-MM-DD`, which no reader misreads as day and month swapped), a
    number without a trailing `.0` or an exponent, a yes/no as `CustomValue`, a list of choices
    joined with commas (as a job's locations are)."""
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, bool):
        return CustomValue(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return str(int(value)) if value.is_integer() else format(Decimal(repr(value)), "f")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return ", ".join(str(item) for item in value if item not in (None, "")) or None
    if isinstance(value, str):
        return value
    return None  # a shape no custom field type has: nothing rather than a Python repr


def custom_values(values: Mapping[str, Any]) -> CustomValues:
    """The custom field values a template may merge, in their printed form."""
    printed = {key: custom_value(value) for key, value in values.items()}
    return CustomValues({key: value for key, value in printed.items() if value is not None})


def recipient_context(
    recipient: Recipient,
    sender_name: str = "",
    links: ContactLinks | None = None,
    jobs: Sequence[Job] = (),
) -> dict[str, Any]:
    """The documented merge context; missing values are left out, so they render empty, test
    false and take `default()`. `jobs` are the tenant's open jobs; `open_jobs` holds those
    matching the recipient."""
    candidate = recipient.model_dump(include=set(MERGE_FIELDS["candidate"]))
    context: dict[str, Any] = {
        "candidate": {key: value for key, value in candidate.items() if value}
        | {CUSTOM_FIELDS: custom_values(recipient.custom_fields)},
        "sender": {"name": sender_name} if sender_name else {},
        OPEN_JOBS: open_jobs_context(recipient, jobs),
    }
    if links is not None:
        context |= {
            "unsubscribe_url": links.unsubscribe_url,
            "preferences_url": links.preferences_url,
        }
    return context
