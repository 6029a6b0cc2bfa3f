"""The HTML pages of the public consent links: confirmation, preference centre, unsubscribe
and the pages for a link that opens nothing.

Plain HTML, UTF-8, no script and no style (the page policy of `crm_shared.pages` allows
neither); a button is a form posting back to the page's own URL, so it works without
JavaScript. Every page is personal and never cached (`Cache-Control: no-store`).
"""

from __future__ import annotations

import html

from fastapi.responses import HTMLResponse

NO_STORE = {"Cache-Control": "no-store"}


def page(title: str, body: str, *, status_code: int = 200) -> HTMLResponse:
    """A consent page: its title as heading, then `body` (HTML, escaped by the caller)."""
    return HTMLResponse(
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title></head><body><h1>{html.escape(title)}</h1>"
        f"{body}</body></html>",
        status_code=status_code,
        headers=NO_STORE,
    )


def expired_link_page(way_forward: str) -> HTMLResponse:
    """A genuine link past its expiry (or of someone erased since): what to do instead."""
    return page("This link has expired", f"<p>{html.escape(way_forward)}</p>", status_code=410)


def invalid_link_page(way_forward: str) -> HTMLResponse:
    """A link that was never ours, was cut short, or is meant for another page."""
    return page(
        "This link is not valid",
        "<p>We could not recognise this link. If you copied it from an email, check that you "
        "copied all of it.</p>"
        f"<p>{html.escape(way_forward)}</p>",
        status_code=404,
    )


# RFC 8058's body: the form sends what a mail client's one-click POST sends.
_UNSUBSCRIBE_FORM = (
    "<form method='post'>"
    "<input type='hidden' name='List-Unsubscribe' value='One-Click'>"
    "<button type='submit'>Unsubscribe</button></form>"
)


def unsubscribe_page(first_name: str | None, *, subscribed: bool) -> HTMLResponse:
    """What the unsubscribe link in a mail opens: it says what the button does and changes
    nothing itself, so a mail scanner following the link unsubscribes nobody."""
    greeting = f"Hello {html.escape(first_name)}. " if first_name else ""
    if not subscribed:
        return page(
            "You are unsubscribed",
            f"<p>{greeting}You do not receive our news about roles and events; there is "
            "nothing to unsubscribe from.</p>",
        )
    return page(
        "Unsubscribe",
        f"<p>{greeting}Unsubscribing stops our marketing emails to you: news about roles "
        "and events. Emails about something you are taking part in, such as an event you "
        "registered for, still reach you.</p>" + _UNSUBSCRIBE_FORM,
    )


def unsubscribed_page() -> HTMLResponse:
    """The answer to the unsubscribe button (and to a repeated one)."""
    return page(
        "Unsubscribed",
        "<p>You will not receive marketing messages any more.</p>"
        "<p>If you change your mind, sign up again with the form on our careers site.</p>",
    )
