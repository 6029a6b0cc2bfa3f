"""The template editor's rules: a draft from the form, and where the API's problems are."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from crm_console.domain.forms import FormValues, first
from crm_console.domain.problems import LocatedError, Problem
from crm_console.domain.questions import Question

PARTS = ("subject", "html", "text")
PART_LABELS = {"subject": "Subject", "html": "HTML body", "text": "Plain-text body"}
# Lines shown around a line with a problem.
CONTEXT_LINES = 2
# The languages campaigns writes a template's footer in (any other tag the API holds is kept).
FOOTER_LANGUAGES = (("en", "English"), ("fr", "French"), ("de", "German"))


@dataclass(frozen=True)
class TemplateDraft:
    """What the editor holds: a template's name and parts as typed."""

    name: str = ""
    subject: str = ""
    html: str = ""
    text: str = ""
    # The template's language tag ("" when not set): its footer is written in it.
    language: str = ""

    @classmethod
    def from_form(cls, form: FormValues) -> TemplateDraft:
        # Bodies keep their whitespace: line numbers must match what the person typed.
        def raw(name: str) -> str:
            values = form.get(name) or [""]
            return values[0].replace("\r\n", "\n")

        return cls(
            name=first(form, "name"),
            subject=raw("subject"),
            html=raw("html"),
            text=raw("text"),
            language=first(form, "language"),
        )

    @classmethod
    def of(cls, template: dict[str, Any]) -> TemplateDraft:
        return cls(
            name=str(template.get("name", "")),
            subject=str(template.get("subject", "")),
            html=str(template.get("html", "")),
            text=str(template.get("text", "")),
            language=str(template.get("language") or ""),
        )

    def body(self) -> dict[str, str | None]:
        """The API's template body (a replacement: the language is always sent, so that saving
        keeps it)."""
        return {
            "name": self.name,
            "subject": self.subject,
            "html": self.html,
            "text": self.text,
            "language": self.language or None,
        }

    def preview_body(self, candidate_id: str) -> dict[str, str | None]:
        """The API's draft-preview body."""
        return {
            "candidate_id": candidate_id,
            "subject": self.subject,
            "html": self.html,
            "text": self.text,
            "language": self.language or None,
        }

    def language_options(self) -> list[tuple[str, str]]:
        """The languages the editor offers, with the template's own if it is none of them."""
        options = list(FOOTER_LANGUAGES)
        if self.language and self.language not in dict(options):
            options.append((self.language, self.language))
        return options

    def source(self, part: str) -> str:
        return str(getattr(self, part, ""))


@dataclass(frozen=True)
class SourceLine:
    number: int
    text: str
    at_fault: bool


@dataclass(frozen=True)
class PartProblem:
    """A problem in one part of a template, with the lines around it."""

    part: str
    label: str
    detail: str
    line: int | None
    excerpt: tuple[SourceLine, ...]


def excerpt(source: str, line: int | None, around: int = CONTEXT_LINES) -> tuple[SourceLine, ...]:
    """The lines around `line` (1-based) of `source`, that line marked; empty without a line."""
    lines = source.split("\n")
    if line is None or not 1 <= line <= len(lines):
        return ()
    start, end = max(1, line - around), min(len(lines), line + around)
    return tuple(SourceLine(n, lines[n - 1], n == line) for n in range(start, end + 1))


def part_problems(problem: Problem, draft: TemplateDraft) -> list[PartProblem]:
    """The API's template problems by part, in the order of the parts, each with its lines."""
    found: list[PartProblem] = []
    for part in PARTS:
        for error in problem.located:
            if _part_of(error) == part:
                found.append(
                    PartProblem(
                        part,
                        PART_LABELS[part],
                        error.detail,
                        error.line,
                        excerpt(draft.source(part), error.line),
                    )
                )
    # A block that fails for the candidate (`blocks.footer`): named, its source is elsewhere.
    found += [
        PartProblem(error.field, error.field, error.detail, error.line, ())
        for error in problem.located
        if _part_of(error) not in PARTS
    ]
    return found


def _part_of(error: LocatedError) -> str:
    return error.field.split(".")[0]


# What the console's policy would refuse inside the preview frame (which inherits it): inline
# styles, style sheets and images from elsewhere. Taken out, so the browser neither drops them
# silently nor reports a violation for each; what a mail says and how it is structured stays.
_STYLE_ELEMENT = re.compile(r"<style\b[^>]*>.*?</style\s*>", re.IGNORECASE | re.DOTALL)
_STYLE_ATTRIBUTE = re.compile(r"""\s+style\s*=\s*("[^"]*"|'[^']*'|[^\s>]+)""", re.IGNORECASE)
_IMAGE = re.compile(r"<img\b[^>]*>", re.IGNORECASE)
_ALT = re.compile(r"""\balt\s*=\s*("[^"]*"|'[^']*')""", re.IGNORECASE)


def previewable_html(html: str) -> str:
    """A rendered mail's HTML as the preview frame shows it: without styles, images as their
    alternative text in brackets. The frame is sandboxed; this is for fidelity, not safety."""
    html = _STYLE_ELEMENT.sub("", html)
    html = _STYLE_ATTRIBUTE.sub("", html)
    return _IMAGE.sub(_image_text, html)


def _image_text(image: re.Match[str]) -> str:
    alt = _ALT.search(image.group(0))
    return f"[image: {alt.group(1)[1:-1]}]" if alt and alt.group(1)[1:-1] else "[image]"


# What the template's archive button asks first.
ARCHIVE_QUESTION = Question(
    "Archive this template? Nothing new may use it.", "Archive template", "secondary"
)


def delete_block_question(key: str) -> Question:
    """What a block's delete button asks first, naming the block by its key."""
    return Question(f"Delete the block {key}? Templates can no longer include it.", "Delete block")
