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

pytestmark = pytest.mark.unit


def forms(body: str) -> list[str]:
    return re.findall(r"<form[^>]*>.*?</form>", body, flags=re.S)


def test_the_unsubscribe_page_explains_and_posts_back_to_its_own_link() -> None:
    response = unsubscribe_page("Zoë <b>", subscribed=True)
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
    body = bytes(unsubscribe_page(None, subscribed=False).body).decode()
    assert "You are unsubscribed" in body
    assert "Hello" not in body
    assert forms(body) == []


def test_the_button_confirms_and_bad_links_get_pages_not_json() -> None:
    done = unsubscribed_page()
    assert done.status_code == 200
    assert "You will not receive marketing messages any more." in bytes(done.body).decode()
    expired = expired_link_page("Use the link in our most recent email.")
    assert expired.status_code == 410
    assert expired.headers["content-type"].startswith("text/html")
    assert "This link has expired" in bytes(expired.body).decode()
    invalid = invalid_link_page("Use the link in our most recent email.")
    assert invalid.status_code == 404
    assert invalid.headers["content-type"].startswith("text/html")
    body = bytes(invalid.body).decode()
    assert "This link is not valid" in body
    assert "most recent email" in body
