from datetime import UTC, datetime, timedelta

import pytest

from crm_shared import LinkClaim, SignedLinks

pytestmark = pytest.mark.unit
SECRET = "unit-tests-link-signing-secret-0123456789"


def test_a_token_round_trips_its_claim() -> None:
    links = SignedLinks(SECRET)
    expires = datetime(2030, 1, 1, tzinfo=UTC)
    claim = LinkClaim("preferences", "acme", "cand-1", expires, {"message_id": "m-1"})
    assert links.verify(links.token(claim), "preferences") == claim


def test_a_token_is_refused_for_another_purpose_or_when_expired_or_tampered() -> None:
    links = SignedLinks(SECRET)
    now = datetime(2030, 1, 1, tzinfo=UTC)
    token = links.token(LinkClaim("opt_in", "acme", "cand-1", now + timedelta(hours=1)))
    assert links.verify(token, "opt_in", now=now) is not None
    assert links.verify(token, "unsubscribe", now=now) is None
    assert links.verify(token, "opt_in", now=now + timedelta(hours=2)) is None
    body, signature = token.split(".")
    assert links.verify(body[:-2] + "AA." + signature, "opt_in", now=now) is None
    assert links.verify("garbage", "opt_in", now=now) is None
    assert SignedLinks(SECRET + "x").verify(token, "opt_in", now=now) is None


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="32 characters"):
        SignedLinks("short")
