"""The pure rules of tenancy: API key shape and scopes, what a call needs, e-mail domain
rules, and who may join a tenant on first sign-in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crm_gateway.domain.api_keys import (
    ApiKey,
    MalformedKey,
    digest_matches,
    granted_scopes,
    invalid_scopes,
    key_lookup_prefix,
    key_roles,
    new_key_secret,
)
from crm_gateway.domain.tenants import SignInSettings, Tenant, domain_allowed
from crm_gateway.domain.users import (
    Admission,
    Identity,
    Membership,
    MembershipStatus,
    SignInClaims,
    SignInRefused,
    admit_newcomer,
)


def test_a_new_key_is_prefixed_random_and_stored_as_a_digest() -> None:
    first, second = new_key_secret(), new_key_secret()

    assert first.plaintext.startswith(f"crm_{first.prefix}_")
    assert key_lookup_prefix(first.plaintext) == first.prefix
    assert first.plaintext != second.plaintext
    assert first.plaintext not in first.digest
    assert digest_matches(first.plaintext, first.digest)
    assert not digest_matches(second.plaintext, first.digest)


@pytest.mark.parametrize(
    "token", ["crm_", "crm_abc_def", "crm_ABCDEF012345_" + "x" * 43, "crm_0123456789ab_short"]
)
def test_a_token_not_shaped_like_a_key_is_malformed(token: str) -> None:
    with pytest.raises(MalformedKey):
        key_lookup_prefix(token)


def test_scopes_are_permissions_and_map_to_the_least_role_that_covers_them() -> None:
    assert invalid_scopes(["candidates:read", "candidates:delete", "nope"]) == [
        "candidates:delete",
        "nope",
    ]
    assert key_roles(frozenset({"candidates:read", "events:read"})) == {"viewer"}
    assert key_roles(frozenset({"candidates:write"})) == {"viewer", "recruiter"}
    assert key_roles(frozenset({"templates:write"})) == {"viewer", "marketer"}
    assert key_roles(frozenset({"events:write"})) == {"viewer", "coordinator"}
    assert key_roles(frozenset({"settings:write"})) == {"viewer", "admin"}
    assert key_roles(frozenset({"users:read"})) == {"admin"}
    assert key_roles(frozenset({"settings:read"})) == {"viewer"}
    # The scopes confine the key further: a write scope holds its read, nothing else.
    assert granted_scopes(frozenset({"templates:write"})) == {"templates:write", "templates:read"}


def test_a_key_is_usable_until_revoked_or_expired_and_a_write_includes_the_read() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    key = ApiKey(
        key_id="0123456789ab",
        tenant_id="acme",
        name="ci",
        scopes=frozenset({"pools:write"}),
        digest="d",
        created_by="alice",
        created_at=now,
        expires_at=now + timedelta(days=1),
    )
    assert key.usable_at(now)
    assert not key.usable_at(now + timedelta(days=1))
    assert key.allows("pools:read")
    assert not key.allows("candidates:read")
    assert key.principal_id == "key:0123456789ab"


def test_email_domains_match_exactly() -> None:
    assert domain_allowed("a@Acme.example", ("acme.example",))
    assert not domain_allowed("a@eu.acme.example", ("acme.example",))
    assert not domain_allowed("a@acme.example.evil", ("acme.example",))
    assert domain_allowed("a@anything.example", ())
    assert not domain_allowed("no-at-sign", ())


def claims(email: str | None = "sam@acme.example", *, verified: bool = True) -> SignInClaims:
    return SignInClaims(
        identity=Identity("https://sso.example", "sub-1"),
        email=email,
        email_verified=verified,
        name="Sam",
    )


def tenant(**sign_in: object) -> Tenant:
    return Tenant(tenant_id="acme", name="Acme", sign_in=SignInSettings(**sign_in))  # type: ignore[arg-type]


def membership(status: MembershipStatus) -> Membership:
    return Membership("acme", "usr_1", "sam@acme.example", frozenset({"viewer"}), status)


def test_a_verified_invitation_admits_and_jit_admits_only_allowed_domains() -> None:
    invited = membership(MembershipStatus.INVITED)
    assert admit_newcomer(tenant(), claims(), invited) is Admission.ACCEPT_INVITATION
    jit = tenant(jit_provisioning=True, email_domains=("acme.example",))
    assert admit_newcomer(jit, claims(), None) is Admission.PROVISION


@pytest.mark.parametrize(
    ("settings", "sign_in", "invitation", "problem_type"),
    [
        ({}, claims(), None, "not-a-member"),
        ({}, claims(verified=False), MembershipStatus.INVITED, "not-a-member"),
        ({"jit_provisioning": True}, claims(None), None, "not-a-member"),
        (
            {"jit_provisioning": True, "email_domains": ("acme.example",)},
            claims("eve@evil.example"),
            None,
            "email-domain-not-allowed",
        ),
        ({"jit_provisioning": True}, claims(), MembershipStatus.REMOVED, "membership-removed"),
        ({"jit_provisioning": True}, claims(), MembershipStatus.ACTIVE, "identity-conflict"),
    ],
)
def test_who_is_refused_on_first_sign_in(
    settings: dict[str, object],
    sign_in: SignInClaims,
    invitation: MembershipStatus | None,
    problem_type: str,
) -> None:
    found = None if invitation is None else membership(invitation)
    with pytest.raises(SignInRefused) as refused:
        admit_newcomer(tenant(**settings), sign_in, found)
    assert refused.value.problem_type == problem_type
