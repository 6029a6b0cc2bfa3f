"""Which of the languages a page or mail is written in its reader reads: the person's own
`locale` ("de-CH" reads German) when one of them, else the first of the browser's
`Accept-Language` that is (RFC 9110 12.5.4, by quality), else the first of them."""

from __future__ import annotations

from collections.abc import Sequence

from crm_shared.negotiation import weighted_values


def reader_language(locale: str | None, accept_language: str, written_in: Sequence[str]) -> str:
    """The language of `written_in` (codes like `en`, the first the default) to show."""
    own = _language(locale or "")
    if own in written_in:
        return own
    for language in accepted_languages(accept_language):
        if language in written_in:
            return language
    return written_in[0]


def accepted_languages(header: str) -> list[str]:
    """The languages of an `Accept-Language` header, most wanted first."""
    weighted = [
        (-quality, position, _language(tag))
        for position, (tag, quality) in enumerate(weighted_values(header))
        if tag != "*" and quality > 0
    ]
    return [language for _, _, language in sorted(weighted)]


def _language(tag: str) -> str:
    return tag.strip().replace("_", "-").split("-")[0].lower()
