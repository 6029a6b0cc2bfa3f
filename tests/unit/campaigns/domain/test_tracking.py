"""Tracking tokens cannot be forged or repurposed; every link is rewritten; the pixel is added."""

from __future__ import annotations

import pytest

from crm_campaigns.domain.tracking import (
    TrackingClaim,
    TrackingKind,
    TrackingTokens,
    instrument_html,
)

pytestmark = pytest.mark.unit

TOKENS = TrackingTokens("t" * 40)


def test_a_token_verifies_to_its_claim() -> None:
    claim = TrackingClaim(TrackingKind.CLICK, "acme", "m1", 2)
    assert TOKENS.verify(TOKENS.token(claim), TrackingKind.CLICK) == claim


def test_tokens_of_another_secret_kind_or_shape_are_rejected() -> None:
    click = TOKENS.token(TrackingClaim(TrackingKind.CLICK, "acme", "m1", 0))
    other = TrackingTokens("o" * 40).token(TrackingClaim(TrackingKind.CLICK, "acme", "m1", 0))
    assert TOKENS.verify(other, TrackingKind.CLICK) is None
    assert TOKENS.verify(click, TrackingKind.OPEN) is None
    body, signature = click.split(".")
    tampered_body = TOKENS.token(TrackingClaim(TrackingKind.CLICK, "globex", "m1", 0)).split(".")[0]
    assert TOKENS.verify(f"{tampered_body}.{signature}", TrackingKind.CLICK) is None
    for garbage in ("", ".", "a.b.c", "%%%.%%%", body):
        assert TOKENS.verify(garbage, TrackingKind.CLICK) is None


def test_tokens_issued_before_stay_valid() -> None:
    # Issued by the previous implementation (json.dumps + hmac.digest): pixels and links in mail
    # already sent must keep working.
    tokens = TrackingTokens("unit-tests-tracking-secret-0123456789abc")
    click = TrackingClaim(TrackingKind.CLICK, "acme", "m-1", 2)
    opened = TrackingClaim(TrackingKind.OPEN, "acme", "m-\u00fc")
    assert tokens.token(click) == "WyJjIiwiYWNtZSIsIm0tMSIsMl0.5YstjAVfSjhtQbXLZKLT3Una"
    assert tokens.token(opened) == "WyJvIiwiYWNtZSIsIm0tXHUwMGZjIl0.oRKK9SsJLwaUYCB5xNmLOwQk"
    assert (
        tokens.verify("WyJjIiwiYWNtZSIsIm0tMSIsMl0.5YstjAVfSjhtQbXLZKLT3Una", TrackingKind.CLICK)
        == click
    )


def test_links_are_tracked_in_order_and_the_pixel_goes_before_the_body_end() -> None:
    html = (
        '<html><body><a href="https://a.example/1">one</a> '
        "<a class='x' href='http://b.example/2?q=1'>two</a> "
        '<a href="mailto:x@example.org">mail</a></body></html>'
    )
    tracked = instrument_html(
        html, tokens=TOKENS, tenant_id="acme", message_id="m1", base_url="https://crm.example"
    )
    assert tracked.links == ["https://a.example/1", "http://b.example/2?q=1"]
    assert "https://a.example/1" not in tracked.html
    assert 'href="mailto:x@example.org"' in tracked.html
    assert tracked.html.count("https://crm.example/t/c/") == 2
    assert tracked.html.index("/t/o/") < tracked.html.index("</body>")
    second = tracked.html.split("https://crm.example/t/c/")[2].split("'")[0]
    assert TOKENS.verify(second, TrackingKind.CLICK) == TrackingClaim(
        TrackingKind.CLICK, "acme", "m1", 1
    )


def test_a_rotated_tracking_key_keeps_mailed_pixels_and_links_working() -> None:
    claim = TrackingClaim(TrackingKind.CLICK, "acme", "m1", 2)
    mailed = TOKENS.token(claim)
    new_secret = "unit-tests-tracking-secret-rotated-0987654321"
    rotated = TrackingTokens(new_secret, key_id="t2", retired_secrets={"": "t" * 40})
    assert rotated.token(claim).endswith(".t2")
    assert rotated.verify(mailed, TrackingKind.CLICK) == claim
    assert TrackingTokens(new_secret, key_id="t2").verify(mailed, TrackingKind.CLICK) is None
