"""The HTML pages of the public consent links: confirmation, preference centre, unsubscribe
and the pages for a link that opens nothing.

Plain HTML, UTF-8, no script and no style (the page policy of `crm_shared.pages` allows
neither); a button is a form posting back to the page's own URL, so it works without
JavaScript. Every page is personal and never cached (`Cache-Control: no-store`). Each speaks
the visitor's language where it can (`crm_candidates.domain.consent_copy`).
"""

from __future__ import annotations

import html

from fastapi.responses import HTMLResponse

from crm_candidates.domain.consent_copy import say

NO_STORE = {"Cache-Control": "no-store"}


def page(language: str, title: str, body: str, *, status_code: int = 200) -> HTMLResponse:
    """A consent page in `language`: its title as heading, then `body` (HTML, escaped by the
    caller)."""
    return HTMLResponse(
        f"<!doctype html><html lang='{html.escape(language)}'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title></head><body><h1>{html.escape(title)}</h1>"
        f"{body}</body></html>",
        status_code=status_code,
        headers=NO_STORE,
    )


def paragraph(language: str, key: str, **values: str) -> str:
    """One paragraph of the page's text, escaped."""
    return f"<p>{html.escape(say(language, key, **values))}</p>"


def expired_link_page(language: str, way_forward: str) -> HTMLResponse:
    """A genuine link past its expiry (or of someone erased since): what to do instead
    (`way_forward`: the key of that text)."""
    return page(
        language,
        say(language, "expired_title"),
        paragraph(language, way_forward),
        status_code=410,
    )


def invalid_link_page(language: str, way_forward: str) -> HTMLResponse:
    """A link that was never ours, was cut short, or is meant for another page."""
    return page(
        language,
        say(language, "invalid_title"),
        paragraph(language, "invalid_body") + paragraph(language, way_forward),
        status_code=404,
    )


def unsubscribe_page(language: str, first_name: str | None, *, subscribed: bool) -> HTMLResponse:
    """What the unsubscribe link in a mail opens: it says what the button does and changes
    nothing itself, so a mail scanner following the link unsubscribes nobody."""
    greeting = say(language, "hello", name=first_name) + " " if first_name else ""
    if not subscribed:
        text = greeting + say(language, "not_subscribed_body")
        return page(language, say(language, "not_subscribed_title"), f"<p>{html.escape(text)}</p>")
    text = greeting + say(language, "unsubscribe_body")
    # RFC 8058's body: the form sends what a mail client's one-click POST sends.
    form = (
        "<form method='post'>"
        "<input type='hidden' name='List-Unsubscribe' value='One-Click'>"
        f"<button type='submit'>{html.escape(say(language, 'unsubscribe_button'))}</button>"
        "</form>"
    )
    return page(language, say(language, "unsubscribe_title"), f"<p>{html.escape(text)}</p>" + form)


def unsubscribed_page(language: str) -> HTMLResponse:
    """The answer to the unsubscribe button (and to a repeated one)."""
    return page(
        language,
        say(language, "unsubscribed_title"),
        paragraph(language, "unsubscribed_body") + paragraph(language, "change_of_mind"),
    )
