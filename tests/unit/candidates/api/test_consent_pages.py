"""The HTML pages the public consent links open: the unsubscribe page and its answers."""

from __future__ import annotations

import re

import pytest

from crm_candidates.api.consent_pages import (
    expired_link_page,
    invalid_link_page,
    unsubscribe_page,
    unsubscribed_page,
)
from crm_candidates.domain.consent_copy import COPY, LANGUAGES, page_language, say

pytestmark = pytest.mark.unit


def forms(body: str) -> list[str]:
    return re.findall(r"<form[^>]*>.*?</form>", body, flags=re.S)


def test_the_unsubscribe_page_explains_and_posts_back_to_its_own_link() -> None:
    response = unsubscribe_page("en", "Zoë <b>", subscribed=True)
    body = bytes(response.body).decode("utf-8")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "<meta charset='utf-8'>" in body
    assert response.headers["cache-control"] == "no-store"
    # The name is the person's own, escaped; UTF-8 survives.
    assert "Hello Zoë &lt;b&gt;." in body
    assert "stops our marketing emails" in body
    # One button, posting (no action: the page's own URL) what a mail client's one-click sends;
    # no script, so it works without JavaScript and under the page policy.
    [form] = forms(body)
    assert form.startswith("<form method='post'>")
    assert "action=" not in form
    assert "name='List-Unsubscribe' value='One-Click'" in form
    assert "<button type='submit'>Unsubscribe</button>" in form
    assert "<script" not in body


def test_someone_already_unsubscribed_is_told_so_without_a_button() -> None:
    body = bytes(unsubscribe_page("en", None, subscribed=False).body).decode()
    assert "You are unsubscribed" in body
    assert "Hello" not in body
    assert forms(body) == []


def test_the_button_confirms_and_bad_links_get_pages_not_json() -> None:
    done = unsubscribed_page("en")
    assert done.status_code == 200
    assert "You will not receive marketing messages any more." in bytes(done.body).decode()
    expired = expired_link_page("en", "way_confirm")
    assert expired.status_code == 410
    assert expired.headers["content-type"].startswith("text/html")
    assert "This link has expired" in bytes(expired.body).decode()
    invalid = invalid_link_page("en", "way_confirm")
    assert invalid.status_code == 404
    assert invalid.headers["content-type"].startswith("text/html")
    body = bytes(invalid.body).decode()
    assert "This link is not valid" in body
    assert "most recent email" in body


def test_every_language_says_everything_english_says() -> None:
    for language in LANGUAGES:
        assert set(COPY[language]) == set(COPY["en"]), language
        assert "{name}" in COPY[language]["hello"]
        assert "{name}" in COPY[language]["confirm_named"]


@pytest.mark.parametrize(
    ("locale", "accept", "language"),
    [
        ("de-CH", "en-GB,en;q=0.9", "de"),
        ("fr_FR", "", "fr"),
        ("pt-BR", "pt;q=1, es;q=0.8, en;q=0.5", "es"),
        (None, "it, fr;q=0.4, de;q=0.7", "de"),
        (None, "es;q=0, fr", "fr"),
        (None, "*", "en"),
        (None, "", "en"),
        ("", "not a header;;q=x", "en"),
    ],
)
def test_a_page_speaks_the_persons_language_else_the_browsers(
    locale: str | None, accept: str, language: str
) -> None:
    assert page_language(locale, accept) == language


def test_a_page_in_german_says_so_to_the_browser_and_escapes_the_name() -> None:
    body = bytes(unsubscribe_page("de", "Jürgen <i>", subscribed=True).body).decode()
    assert "<html lang='de'>" in body
    assert "<title>Abmelden</title>" in body
    assert "Hallo Jürgen &lt;i&gt;. Mit der Abmeldung" in body
    assert "<button type='submit'>Abmelden</button>" in body
    assert say("fr", "unsubscribed_body") in bytes(unsubscribed_page("fr").body).decode()
    assert "<html lang='es'>" in bytes(expired_link_page("es", "way_signup").body).decode()
