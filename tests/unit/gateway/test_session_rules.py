"""Rules of the console's browser sessions: PKCE, return paths, cookie security, expiry and
the origin check of cookie writes."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from crm_gateway.domain.sessions import (
    BrowserSession,
    SessionPolicy,
    SessionState,
    cookie_is_secure,
    digest,
    needs_touch,
    origin_allowed,
    pkce_challenge,
    pkce_verifier,
    prefers_html,
    safe_return_to,
    same_secret,
    session_state,
)
from crm_gateway.repositories.sessions import TokenSealer

T0 = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
POLICY = SessionPolicy(idle=timedelta(minutes=30), absolute=timedelta(hours=12))


def _session(**changes: object) -> BrowserSession:
    values: dict[str, object] = {
        "session_digest": digest("secret"),
        "tenant_id": "acme",
        "user_id": "usr_1",
        "issuer": "https://sso.example/realms/acme",
        "subject": "kc-1",
        "email": "rita@acme.example",
        "email_verified": True,
        "name": "Rita",
        "token_roles": frozenset({"recruiter"}),
        "csrf_token": "csrf",
        "id_token": "a.b.c",
        "refresh_token": "r",
        "tokens_expire_at": T0 + timedelta(minutes=5),
        "created_at": T0,
        "last_seen_at": T0,
        "absolute_expires_at": T0 + POLICY.absolute,
    }
    values.update(changes)
    return BrowserSession(**values)  # type: ignore[arg-type]


def test_the_pkce_challenge_is_the_rfc_7636_s256_of_the_verifier() -> None:
    verifier = pkce_verifier()
    assert 43 <= len(verifier) <= 128
    expected = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    assert pkce_challenge(verifier) == expected.rstrip(b"=").decode()
    # RFC 7636 appendix B's example.
    assert (
        pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
        == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )


@pytest.mark.parametrize(
    ("asked", "kept"),
    [
        ("/candidates?view=mine", "/candidates?view=mine"),
        (None, "/"),
        ("", "/"),
        ("https://evil.example/", "/"),
        ("//evil.example/x", "/"),
        ("/\\evil.example", "/"),
        ("candidates", "/"),
        ("/x\r\nSet-Cookie: a=b", "/"),
    ],
)
def test_only_same_origin_relative_paths_are_returned_to(asked: str | None, kept: str) -> None:
    assert safe_return_to(asked) == kept


def test_the_cookie_is_secure_except_over_plain_http_on_loopback() -> None:
    assert cookie_is_secure("https", "crm.example.com")
    assert cookie_is_secure("http", "crm.example.com")  # behind a TLS-terminating proxy
    assert not cookie_is_secure("http", "localhost")
    assert not cookie_is_secure("http", "127.0.0.1")


def test_a_session_expires_when_idle_or_at_its_absolute_end_and_refreshes_in_between() -> None:
    session = _session()
    assert session_state(session, T0 + timedelta(minutes=1), POLICY) is SessionState.ACTIVE
    assert session_state(session, T0 + timedelta(minutes=6), POLICY) is SessionState.NEEDS_REFRESH
    assert session_state(session, T0 + timedelta(minutes=30), POLICY) is SessionState.IDLE_EXPIRED
    busy = _session(last_seen_at=T0 + timedelta(hours=11, minutes=59))
    assert session_state(busy, T0 + timedelta(hours=12), POLICY) is SessionState.EXPIRED
    assert busy.expires_at(POLICY) == T0 + POLICY.absolute


def test_last_seen_is_written_at_most_once_a_minute() -> None:
    session = _session()
    assert not needs_touch(session, T0 + timedelta(seconds=59), POLICY)
    assert needs_touch(session, T0 + timedelta(seconds=60), POLICY)


def test_a_cookie_write_comes_from_the_gateways_origin_or_an_allowed_one() -> None:
    own = "https://crm.example.com"
    allowed = frozenset({"https://console.example.com"})
    assert origin_allowed(None, own, allowed)
    assert origin_allowed("https://crm.example.com", own, allowed)
    assert origin_allowed("https://console.example.com", own, allowed)
    assert not origin_allowed("https://evil.example", own, allowed)
    assert not origin_allowed("null", own, allowed)


def test_secrets_compare_only_when_equal() -> None:
    assert same_secret("abc", "abc")
    assert not same_secret("abd", "abc")
    assert not same_secret(None, "abc")


def test_a_sealed_refresh_token_opens_only_for_its_session_and_key() -> None:
    sealer = TokenSealer.derived_from(b"the gateway's signing key")
    sealed = sealer.seal("refresh-1", "digest-a")
    assert "refresh-1" not in sealed
    assert sealer.open(sealed, "digest-a") == "refresh-1"
    assert sealer.open(sealed, "digest-b") is None
    assert TokenSealer.derived_from(b"another key").open(sealed, "digest-a") is None
    assert sealer.open("not base64!", "digest-a") is None


@pytest.mark.parametrize(
    ("accept", "page"),
    [
        (
            "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
            "*/*;q=0.8,application/signed-exchange;v=b3;q=0.7",
            True,
        ),
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", True),
        ("application/json, text/html;q=0.5", False),
        ("application/problem+json", False),
        ("application/json, text/html", False),
        ("text/html;q=0", False),
        ("text/html;q=x", False),
        ("*/*", False),
        ("", False),
        (None, False),
    ],
)
def test_only_a_browser_navigation_prefers_html(accept: str | None, page: bool) -> None:
    assert prefers_html(accept) is page
