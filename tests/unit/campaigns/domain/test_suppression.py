"""Suppression rules by category, hashing, unsubscribe links, footers and merge fields."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from crm_campaigns.domain.contact_links import contact_links, with_footer
from crm_campaigns.domain.models import MessageCategory, Recipient, SuppressionReason
from crm_campaigns.domain.suppression import (
    ListReason,
    blocking_reason,
    email_sha256,
    named_candidate,
)
from crm_campaigns.domain.templates import (
    TemplateError,
    recipient_context,
    render,
    validate_template,
)
from crm_campaigns.domain.tracking import TrackingTokens, instrument_html
from crm_shared import SignedLinks

pytestmark = pytest.mark.unit

LINKS = SignedLinks("unit-tests-link-signing-secret-0123456789")
BASE = "https://crm.example.org"


def test_addresses_are_hashed_normalised_as_candidate_erased_carries_them() -> None:
    expected = hashlib.sha256(b"ada@example.org").hexdigest()
    assert email_sha256("  Ada@Example.ORG ") == expected


@pytest.mark.parametrize(
    ("reasons", "marketing", "transactional"),
    [
        (set(), None, None),
        ({ListReason.UNSUBSCRIBED}, ListReason.UNSUBSCRIBED, None),
        ({ListReason.BOUNCED}, ListReason.BOUNCED, ListReason.BOUNCED),
        ({ListReason.ERASED, ListReason.UNSUBSCRIBED}, ListReason.ERASED, ListReason.ERASED),
        ({ListReason.MANUAL}, ListReason.MANUAL, ListReason.MANUAL),
        # A spam complaint stops everything, as the providers do.
        (
            {ListReason.COMPLAINED, ListReason.UNSUBSCRIBED},
            ListReason.COMPLAINED,
            ListReason.COMPLAINED,
        ),
    ],
)
def test_transactional_mail_may_reach_the_unsubscribed_but_never_bounced_or_erased(
    reasons: set[ListReason], marketing: ListReason | None, transactional: ListReason | None
) -> None:
    assert blocking_reason(reasons, MessageCategory.MARKETING) is marketing
    assert blocking_reason(reasons, MessageCategory.TRANSACTIONAL) is transactional


def test_unsubscribe_links_are_signed_for_tenant_candidate_and_message() -> None:
    issued = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
    links = contact_links(
        LINKS,
        base_url=BASE + "/",
        tenant_id="acme",
        candidate_id="c1",
        message_id="m1",
        issued_at=issued,
    )
    assert links.unsubscribe_url.startswith(f"{BASE}/public/v1/unsubscribe/")
    unsubscribe_token = links.unsubscribe_url.rsplit("/", 1)[1]
    claim = LINKS.verify(unsubscribe_token, "unsubscribe", now=issued)
    assert claim is not None
    # Mailed links expire: a year, well past the 30 days an unsubscribe link must work.
    assert (claim.tenant_id, claim.subject, claim.data, claim.expires_at) == (
        "acme",
        "c1",
        {"message_id": "m1"},
        issued + timedelta(days=365),
    )
    assert LINKS.verify(unsubscribe_token, "unsubscribe", now=issued + timedelta(days=364))
    assert LINKS.verify(unsubscribe_token, "unsubscribe", now=issued + timedelta(days=366)) is None
    preferences = LINKS.verify(links.preferences_url.rsplit("/", 1)[1], "preferences", now=issued)
    assert preferences is not None
    assert preferences.subject == "c1"
    assert preferences.expires_at == issued + timedelta(days=365)
    assert LINKS.verify(links.preferences_url.rsplit("/", 1)[1], "unsubscribe") is None


def test_a_footer_is_added_unless_the_template_links_to_unsubscribe_itself() -> None:
    links = contact_links(LINKS, base_url=BASE, tenant_id="t", candidate_id="c", message_id="m")
    html, text = with_footer("<html><body><p>Hi</p></body></html>", "Hi", links)
    assert html.index(links.unsubscribe_url) < html.index("</body>")
    assert links.preferences_url in html
    assert text.endswith(f"Unsubscribe: {links.unsubscribe_url}\n")
    own_html = f'<a href="{links.unsubscribe_url}">leave</a>'
    assert with_footer(own_html, links.unsubscribe_url, links) == (
        own_html,
        links.unsubscribe_url,
    )


def test_unsubscribe_and_preference_links_are_merge_fields_and_are_not_tracked() -> None:
    html = '<a href="{{ unsubscribe_url }}">Unsubscribe</a> <a href="https://jobs.example.org">Jobs</a>'
    validate_template({"html": html, "text": "{{ preferences_url }}"})
    with pytest.raises(TemplateError):
        validate_template({"text": "{{ unsubscribe_url.token }}"})
    links = contact_links(LINKS, base_url=BASE, tenant_id="t", candidate_id="c", message_id="m")
    recipient = Recipient(candidate_id="c", tenant_id="t")
    rendered = render("s", html, "t", recipient_context(recipient, links=links))
    assert links.unsubscribe_url in rendered.html
    tokens = TrackingTokens("unit-tests-tracking-secret-0123456789abcdef")
    tracked = instrument_html(
        rendered.html, tokens=tokens, tenant_id="t", message_id="m", base_url=BASE
    )
    assert tracked.links == ["https://jobs.example.org"]
    assert f'href="{links.unsubscribe_url}"' in tracked.html


@pytest.mark.parametrize("reason", list(ListReason))
def test_every_list_reason_can_be_the_reason_a_message_was_suppressed(reason: ListReason) -> None:
    assert SuppressionReason(reason.value).value == reason.value


def test_a_hand_made_entry_names_the_active_holder_of_the_address_first() -> None:
    assert named_candidate([]) is None
    assert named_candidate([("c2", False)]) == "c2"
    # An active record before an archived or merged one, then the lowest id, whatever order.
    assert named_candidate([("c1", False), ("c3", True), ("c2", True)]) == "c2"
    assert named_candidate([("c2", True), ("c1", False)]) == "c2"
