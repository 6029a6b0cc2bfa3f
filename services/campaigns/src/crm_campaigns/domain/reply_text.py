"""What a candidate wrote in a reply, without the mail they replied to: a short excerpt for the
recruiter (on the message and in the reply's notification).

Mail clients append the original below the answer in a few recognisable shapes:

- Gmail, Apple Mail, Thunderbird (plain text): an attribution line "On <date>, <name> wrote:"
  (possibly wrapped over two lines; "Am ... schrieb ...:", "Le ... a écrit :" in other
  languages) followed by the original quoted with `>`;
- Outlook: "-----Original Message-----", or a line of underscores, or a bare header block
  ("From: ..." then "Sent: ..."), followed by the original *unquoted*;
- HTML mail: the original in a `<blockquote>` or Gmail's `<div class="gmail_quote">`.

A signature starts at the delimiter line `-- ` (RFC 3676). Everything from an unquoted original
or a signature on is cut; `>`-quoted lines are dropped wherever they are, so an answer written
below the quote (bottom-posting) is kept.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

MAX_EXCERPT = 1000
ELLIPSIS = "…"

_ATTRIBUTION_START = re.compile(r"^\s*(on|am|le|el|op|il|em|den)\s.+", re.IGNORECASE)
_ATTRIBUTION_END = re.compile(
    # German puts the sender after the verb: "Am ... schrieb Talent Team <talent@...>:".
    r"\b(wrote|schrieb|a écrit|escribió|schreef|ha scritto|escreveu|skrev)\b.*:\s*$",
    re.IGNORECASE,
)
_ORIGINAL_SEPARATOR = re.compile(
    r"^\s*-{2,}\s*(original message|ursprüngliche nachricht|message d'origine|"
    r"mensaje original|oorspronkelijk bericht|forwarded message|weitergeleitete nachricht)"
    r"\s*-{2,}\s*$",
    re.IGNORECASE,
)
_UNDERSCORES = re.compile(r"^\s*_{10,}\s*$")
_HEADER_FROM = re.compile(r"^\s*\**(from|von|de|van|da)\s*:\**\s", re.IGNORECASE)
_HEADER_NEXT = re.compile(
    r"^\s*\**(sent|date|to|subject|gesendet|datum|an|betreff|envoyé|enviado|verzonden)\s*:",
    re.IGNORECASE,
)
# Block elements end a line when HTML is turned into text.
_BLOCKS = frozenset(
    {"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "hr"}
)
_SKIPPED = frozenset({"style", "script", "head", "title", "blockquote"})
# Classes and ids mail clients give the quoted original in HTML mail.
# (Outlook's `divRplyFwdMsg` holds only the original's headers and stays: they end the answer.)
_QUOTE_MARKERS = ("gmail_quote", "yahoo_quoted", "moz-cite-prefix")


class _TextOfHtml(HTMLParser):
    """The visible text of an HTML body, one line per block, the quoted original left out."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = [""]
        # Tags open inside a skipped element (style, a blockquote, Gmail's quote div).
        self._skip_stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._skip_stack:
            if tag not in ("br", "hr", "img", "meta", "link", "input", "wbr"):
                self._skip_stack.append(tag)
            return
        marked = " ".join((value or "").lower() for name, value in attrs if name in ("class", "id"))
        if tag in _SKIPPED or any(marker in marked for marker in _QUOTE_MARKERS):
            self._skip_stack.append(tag)
            return
        if tag in _BLOCKS:
            self.lines.append("")

    def handle_endtag(self, tag: str) -> None:
        if self._skip_stack:
            # Pop back to the matching tag (HTML in mail is not always well formed).
            if tag in self._skip_stack:
                while self._skip_stack and self._skip_stack.pop() != tag:
                    pass
            return
        if tag in _BLOCKS:
            self.lines.append("")

    def handle_data(self, data: str) -> None:
        if not self._skip_stack:
            self.lines[-1] += data


def html_to_text(html: str) -> str:
    """The visible text of an HTML mail body, without a quoted original it marks as such."""
    parser = _TextOfHtml()
    parser.feed(html)
    parser.close()
    return "\n".join(line.strip() for line in parser.lines)


def _next_content(lines: list[str], start: int) -> str | None:
    for line in lines[start:]:
        if line.strip():
            return line
    return None


def _attribution_length(lines: list[str], index: int) -> int:
    """How many lines an attribution ("On ... wrote:") starting at `index` takes: 0, 1 or 2."""
    line = lines[index]
    if not _ATTRIBUTION_START.match(line):
        return 0
    if _ATTRIBUTION_END.search(line):
        return 1
    if index + 1 < len(lines) and _ATTRIBUTION_END.search(lines[index + 1]):
        return 2
    return 0


def _is_header_block(lines: list[str], index: int) -> bool:
    """Outlook's "From: ... / Sent: ..." heading of the original, with no separator above it."""
    if not _HEADER_FROM.match(lines[index]):
        return False
    following = lines[index + 1 : index + 4]
    return any(_HEADER_NEXT.match(line) for line in following)


def answer_lines(text: str) -> list[str]:
    """The lines the person wrote: up to an unquoted original or the signature, `>` quotes and
    the attribution of a quote left out."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.rstrip() == "--" or _ORIGINAL_SEPARATOR.match(line) or _UNDERSCORES.match(line):
            break
        if _is_header_block(lines, index):
            break
        attribution = _attribution_length(lines, index)
        if attribution:
            following = _next_content(lines, index + attribution)
            if following is not None and not following.lstrip().startswith(">"):
                break  # the original follows unquoted: nothing after it is the answer
            index += attribution
            continue
        if not line.lstrip().startswith(">"):
            kept.append(line)
        index += 1
    return kept


def reply_excerpt(text: str | None, html: str | None = None, *, limit: int = MAX_EXCERPT) -> str:
    """At most `limit` characters of what the person wrote (whitespace collapsed, cut at a word
    with an ellipsis); the text part when there is one, else the HTML part as text; "" when the
    reply holds nothing but the quoted original."""
    source = text if text and text.strip() else html_to_text(html or "")
    collapsed = " ".join(" ".join(answer_lines(source)).split())
    if len(collapsed) <= limit:
        return collapsed
    cut = collapsed[: limit - len(ELLIPSIS)]
    if " " in cut:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip() + ELLIPSIS
