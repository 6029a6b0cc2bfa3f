"""Unsubscribe and preference-centre links in every marketing message.

The candidates service honours them behind the gateway (see docs/governance.md): a signed
token names the tenant, the candidate and the message, so an unsubscribe is attributed to the
message it came from. Mail carries them three ways: `List-Unsubscribe` with
`List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058, one click in the mail client), a
footer, and the `{{ unsubscribe_url }}` / `{{ preferences_url }}` merge fields.
"""

from __future__ import annotations

import html as html_escaping
import re
from dataclasses import dataclass
from datetime import datetime

from crm_shared import LinkClaim, SignedLinks, utc_now
from crm_shared.links import PREFERENCES_LINK_LIFETIME, UNSUBSCRIBE_LINK_LIFETIME

UNSUBSCRIBE_PURPOSE = "unsubscribe"
PREFERENCES_PURPOSE = "preferences"
LIST_UNSUBSCRIBE_POST = "List-Unsubscribe=One-Click"


@dataclass(frozen=True)
class FooterWords:
    """The footer's words in one language."""

    preferences: str
    unsubscribe: str
    # Before the URL in the plain-text part: French sets a space before a colon.
    colon: str = ":"


# The footer in the languages the product has, by primary language subtag; any other language
# (or none) gets English.
FOOTER_WORDS = {
    "en": FooterWords("Manage your email preferences", "Unsubscribe"),
    "fr": FooterWords("Gérer vos préférences d'e-mail", "Se désabonner", " :"),
    "de": FooterWords("E-Mail-Einstellungen verwalten", "Abmelden"),
}
FOOTER_FALLBACK = "en"
_HTML_LANG = re.compile(r"<html\b[^>]*?\blang\s*=\s*[\"']?([A-Za-z]{2,3})\b", re.IGNORECASE)


def footer_language(language: str | None, html: str = "") -> str:
    """The language of a message's footer: the template's `language`, else the `lang` of its
    HTML's `<html>` element, by primary subtag (`fr-CA` is French); English for a language
    the footer does not have, or none."""
    tag = language
    if not tag and (match := _HTML_LANG.search(html[:2000])):
        tag = match.group(1)
    primary = (tag or "").strip().replace("_", "-").split("-", 1)[0].lower()
    return primary if primary in FOOTER_WORDS else FOOTER_FALLBACK


@dataclass(frozen=True)
class ContactLinks:
    """The signed links of one message."""

    unsubscribe_url: str
    preferences_url: str


def contact_links(
    links: SignedLinks,
    *,
    base_url: str,
    tenant_id: str,
    candidate_id: str,
    message_id: str,
    issued_at: datetime | None = None,
) -> ContactLinks:
    """The unsubscribe and preferences URLs of one message to one candidate; each works for a
    year from `issued_at` (now), after which it opens a page saying how to get a new one."""
    base = base_url.rstrip("/")
    issued = issued_at or utc_now()

    def token(purpose: str, lifetime_until: datetime) -> str:
        return links.token(
            LinkClaim(
                purpose=purpose,
                tenant_id=tenant_id,
                subject=candidate_id,
                expires_at=lifetime_until,
                data={"message_id": message_id},
            )
        )

    unsubscribe = token(UNSUBSCRIBE_PURPOSE, issued + UNSUBSCRIBE_LINK_LIFETIME)
    preferences = token(PREFERENCES_PURPOSE, issued + PREFERENCES_LINK_LIFETIME)
    return ContactLinks(
        unsubscribe_url=f"{base}/public/v1/unsubscribe/{unsubscribe}",
        preferences_url=f"{base}/public/v1/preferences/{preferences}",
    )


def preview_links(base_url: str) -> ContactLinks:
    """Stand-ins for a preview: they look like the real links but unsubscribe nobody."""
    base = base_url.rstrip("/")
    return ContactLinks(
        f"{base}/public/v1/unsubscribe/preview", f"{base}/public/v1/preferences/preview"
    )


def _html_text(words: str) -> str:
    # Entities, not the characters: an all-ASCII body is sent without base64.
    return html_escaping.escape(words).encode("ascii", "xmlcharrefreplace").decode("ascii")


def with_footer(
    html: str, text: str, links: ContactLinks, language: str | None = None
) -> tuple[str, str]:
    """The message with the unsubscribe footer, unless its template already links there; in
    the template's language (`footer_language`)."""
    words = FOOTER_WORDS[footer_language(language, html)]
    if links.unsubscribe_url not in html:
        unsubscribe = html_escaping.escape(links.unsubscribe_url, quote=True)
        preferences = html_escaping.escape(links.preferences_url, quote=True)
        footer = (
            '<p style="font-size:12px;color:#666">'
            f'<a href="{preferences}">{_html_text(words.preferences)}</a> &middot; '
            f'<a href="{unsubscribe}">{_html_text(words.unsubscribe)}</a></p>'
        )
        lowered = html.lower()
        if "</body>" in lowered:
            index = lowered.rindex("</body>")
            html = html[:index] + footer + html[index:]
        else:
            html += footer
    if links.unsubscribe_url not in text:
        text = (
            f"{text.rstrip()}\n\n--\n{words.preferences}{words.colon} {links.preferences_url}\n"
            f"{words.unsubscribe}{words.colon} {links.unsubscribe_url}\n"
        )
    return html, text
