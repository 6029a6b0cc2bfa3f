"""Browser sign-in for the console: the authorization code flow with PKCE, run by the gateway,
ending in a session the browser holds as a cookie; the session's expiry, refresh and end."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Protocol

from crm_gateway.adapters.oidc_provider import (
    Client,
    OidcProvider,
    ProviderUnavailable,
    TokenRefused,
)
from crm_gateway.application.identity import CallerAuthentication, CallerRefused
from crm_gateway.application.oidc_sign_in import OidcAuthenticator, VerifiedToken
from crm_gateway.application.tenants import TenantDirectory
from crm_gateway.domain.oidc import Rejection, TokenRejected
from crm_gateway.domain.sessions import (
    BrowserSession,
    LoginAttempt,
    SessionPolicy,
    SessionState,
    digest,
    needs_touch,
    new_secret,
    pkce_challenge,
    pkce_verifier,
    safe_return_to,
    session_state,
)
from crm_gateway.domain.users import Identity, SignInClaims
from crm_shared import KeyedLocks, Principal


class LoginAttempts(Protocol):
    async def insert(self, attempt: LoginAttempt) -> None: ...

    async def take(self, state_digest: str) -> LoginAttempt | None: ...


class BrowserSessions(Protocol):
    async def insert(self, session: BrowserSession) -> None: ...

    async def get(self, session_digest: str) -> BrowserSession | None: ...

    async def touch(self, session_digest: str, at: datetime) -> None: ...

    async def replace(self, session: BrowserSession) -> None: ...

    async def delete(self, session_digest: str) -> bool: ...


class SignInFailed(Exception):
    """A browser sign-in that did not succeed; `reason` is recorded in the audit log and
    named in the problem (`invalid_state`, `access_denied`, `token_exchange_failed`, ...)."""

    def __init__(
        self,
        status: int,
        reason: str,
        detail: str,
        tenant_id: str | None = None,
        user_id: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.reason = reason
        self.detail = detail
        self.tenant_id = tenant_id
        # The verified person refused (a removed member), named as the entry's actor.
        self.user_id = user_id


class ProviderDown(Exception):
    """The identity provider could not renew a session's tokens now (unreachable, or its
    keys cannot be fetched): a 503, the session kept for a later attempt."""


class SessionRefused(Exception):
    """A session cookie that authenticates nobody (unknown, expired, ended, or its refresh
    failed): a 401."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class SignedIn:
    """A new session: the secret for the cookie, the session and where the browser goes."""

    secret: str
    session: BrowserSession
    principal: Principal
    return_to: str


@dataclass(frozen=True)
class CurrentSession:
    session: BrowserSession
    principal: Principal


class BrowserSignIn:
    """Signs browsers in through their tenant's identity provider and keeps their sessions."""

    def __init__(
        self,
        *,
        tenants: TenantDirectory,
        verifier: OidcAuthenticator,
        authentication: CallerAuthentication,
        provider: OidcProvider,
        attempts: LoginAttempts,
        sessions: BrowserSessions,
        policy: SessionPolicy,
        client_secrets: Mapping[str, str],
        attempt_lifetime: timedelta,
        clock: Callable[[], datetime],
    ) -> None:
        self._tenants = tenants
        self._verifier = verifier
        self._authentication = authentication
        self._provider = provider
        self._attempts = attempts
        self._sessions = sessions
        self.policy = policy
        self._client_secrets = client_secrets
        self._attempt_lifetime = attempt_lifetime
        self._clock = clock
        self._refresh_locks = KeyedLocks()

    async def _tenant_client(self, tenant_id: str) -> tuple[str, Client]:
        tenant = await self._tenants.tenant(tenant_id)
        if tenant is None or not tenant.active:
            raise SignInFailed(
                404, "unknown_tenant", f"tenant {tenant_id!r} is unknown or not active"
            )
        issuer, audience = tenant.sign_in.issuer, tenant.sign_in.audience
        if not issuer or not audience:
            raise SignInFailed(
                409,
                "no_identity_provider",
                f"tenant {tenant_id!r} has no identity provider",
                tenant_id,
            )
        return issuer, Client(audience, self._client_secrets.get(tenant_id))

    async def begin(self, tenant_id: str, return_to: str | None, redirect_uri: str) -> str:
        """The provider's authorization URL a browser is sent to; the state, nonce and PKCE
        verifier stay in the gateway's database until the callback."""
        issuer, client = await self._tenant_client(tenant_id)
        state, nonce, verifier = new_secret(), new_secret(), pkce_verifier()
        try:
            url = await self._provider.authorization_url(
                issuer,
                client,
                redirect_uri=redirect_uri,
                state=state,
                nonce=nonce,
                code_challenge=pkce_challenge(verifier),
            )
        except ProviderUnavailable as error:
            raise SignInFailed(503, "provider_unavailable", str(error), tenant_id) from None
        await self._attempts.insert(
            LoginAttempt(
                state_digest=digest(state),
                tenant_id=tenant_id,
                nonce=nonce,
                code_verifier=verifier,
                return_to=safe_return_to(return_to),
                redirect_uri=redirect_uri,
                expires_at=self._clock() + self._attempt_lifetime,
            )
        )
        return url

    async def complete(self, state: str | None, code: str | None, error: str | None) -> SignedIn:
        """The session a callback from the provider opens; raises `SignInFailed`."""
        attempt = None if not state else await self._attempts.take(digest(state))
        if attempt is None or attempt.expires_at <= self._clock():
            raise SignInFailed(
                400, "invalid_state", "this sign-in is unknown or has expired: start again"
            )
        tenant_id = attempt.tenant_id
        if error:
            # The provider's own error code (`access_denied`, ...); its description is the
            # provider's text, not ours to show.
            raise SignInFailed(
                401, error[:64], f"the identity provider refused: {error[:64]}", tenant_id
            )
        if not code:
            raise SignInFailed(400, "missing_code", "the callback carries no code", tenant_id)
        issuer, client = await self._tenant_client(tenant_id)
        try:
            tokens = await self._provider.exchange_code(
                issuer,
                client,
                code=code,
                code_verifier=attempt.code_verifier,
                redirect_uri=attempt.redirect_uri,
            )
        except TokenRefused as refused:
            raise SignInFailed(
                401, "token_exchange_failed", f"the code was refused: {refused.error}", tenant_id
            ) from None
        except ProviderUnavailable as unavailable:
            raise SignInFailed(503, "provider_unavailable", str(unavailable), tenant_id) from None
        try:
            verified = await self._verifier.verify(tokens.id_token)
        except TokenRejected as rejected:
            raise SignInFailed(
                401,
                rejected.reason.value,
                f"the ID token is not valid: {rejected.detail}",
                tenant_id,
            ) from None
        if verified.issuer.tenant_id != tenant_id or verified.claims.get("nonce") != attempt.nonce:
            raise SignInFailed(
                401, "wrong_nonce", "the ID token is not the one this sign-in asked for", tenant_id
            )
        verified = await self._person_token(verified, tokens.access_token)
        try:
            principal, claims = await self._authentication.sign_in(verified)
        except CallerRefused as refused:
            raise SignInFailed(
                403, refused.problem_type, refused.detail, tenant_id, refused.user_id
            ) from None
        now = self._clock()
        secret = new_secret()
        session = BrowserSession(
            session_digest=digest(secret),
            tenant_id=tenant_id,
            user_id=principal.user_id,
            issuer=claims.identity.issuer,
            subject=claims.identity.subject,
            email=claims.email,
            email_verified=claims.email_verified,
            name=claims.name,
            token_roles=claims.token_roles,
            csrf_token=new_secret(),
            id_token=tokens.id_token,
            refresh_token=tokens.refresh_token,
            tokens_expire_at=tokens.expires_at,
            created_at=now,
            last_seen_at=now,
            absolute_expires_at=now + self.policy.absolute,
        )
        await self._sessions.insert(session)
        return SignedIn(secret, session, principal, attempt.return_to)

    async def _person_token(
        self, id_token: VerifiedToken, access_token: str | None
    ) -> VerifiedToken:
        """What the person is mapped from: the access token when it is a JWT the verifier
        accepts for the same tenant and subject (it carries the roles, as for a bearer
        caller), else the ID token."""
        if access_token is None:
            return id_token
        try:
            access = await self._verifier.verify(access_token)
        except TokenRejected:
            return id_token
        same = (access.issuer.tenant_id, access.principal.user_id) == (
            id_token.issuer.tenant_id,
            id_token.principal.user_id,
        )
        return access if same else id_token

    async def current(self, secret: str) -> CurrentSession:
        """The member a session cookie stands for, the session kept alive (and its provider
        tokens refreshed when they expired); raises `SessionRefused` or `CallerRefused`."""
        session_digest = digest(secret)
        session = await self._sessions.get(session_digest)
        if session is None:
            raise SessionRefused("unknown_session", "the session is unknown or has ended")
        now = self._clock()
        state = session_state(session, now, self.policy)
        if state in (SessionState.EXPIRED, SessionState.IDLE_EXPIRED):
            await self._sessions.delete(session_digest)
            raise SessionRefused(f"session_{state.value}", "the session has expired: sign in again")
        if state is SessionState.NEEDS_REFRESH:
            session = await self._refreshed(session)
        if needs_touch(session, now, self.policy):
            await self._sessions.touch(session_digest, now)
            session = replace(session, last_seen_at=now)
        claims = SignInClaims(
            identity=Identity(session.issuer, session.subject),
            email=session.email,
            email_verified=session.email_verified,
            name=session.name,
            token_roles=session.token_roles,
        )
        principal = await self._authentication.member(session.tenant_id, claims)
        if principal.user_id != session.user_id:
            await self._sessions.delete(session_digest)
            raise SessionRefused("unknown_session", "the session's person is another member now")
        return CurrentSession(session, principal)

    async def _refreshed(self, session: BrowserSession) -> BrowserSession:
        """The session with the provider's tokens renewed, once per process however many of
        its requests find them expired at the same time (a provider that rotates refresh
        tokens would refuse the second use of one)."""
        async with self._refresh_locks.holding(session.session_digest):
            stored = await self._sessions.get(session.session_digest)
            if stored is None:
                raise SessionRefused("unknown_session", "the session is unknown or has ended")
            if stored.tokens_expire_at > self._clock():
                return stored  # renewed by a concurrent request
            return await self._refresh(stored)

    async def _refresh(self, session: BrowserSession) -> BrowserSession:
        """A refused or impossible refresh ends the session (the provider no longer vouches
        for the person); a provider that cannot be reached keeps it (`ProviderDown`)."""
        if session.refresh_token is None:
            await self._sessions.delete(session.session_digest)
            raise SessionRefused("refresh_failed", "the sign-in has expired: sign in again")
        try:
            issuer, client = await self._tenant_client(session.tenant_id)
            tokens = await self._provider.refresh(issuer, client, session.refresh_token)
            token_roles = session.token_roles
            if tokens.id_token:
                verified = await self._verifier.verify(tokens.id_token)
                if verified.issuer.tenant_id != session.tenant_id or (
                    verified.principal.user_id != session.subject
                ):
                    raise TokenRefused("subject_changed")
                token_roles = (
                    await self._person_token(verified, tokens.access_token)
                ).principal.roles
        except ProviderUnavailable as unavailable:
            raise ProviderDown(str(unavailable)) from None
        except TokenRejected as rejected:
            if rejected.reason is Rejection.KEYS_UNAVAILABLE:
                raise ProviderDown(rejected.detail) from None
            await self._sessions.delete(session.session_digest)
            raise SessionRefused(
                "refresh_failed", "the sign-in could not be renewed: sign in again"
            ) from None
        except (TokenRefused, SignInFailed):
            await self._sessions.delete(session.session_digest)
            raise SessionRefused(
                "refresh_failed", "the sign-in could not be renewed: sign in again"
            ) from None
        renewed = replace(
            session,
            id_token=tokens.id_token or session.id_token,
            refresh_token=tokens.refresh_token or session.refresh_token,
            tokens_expire_at=tokens.expires_at,
            token_roles=token_roles,
        )
        await self._sessions.replace(renewed)
        return renewed

    async def end(
        self, secret: str, post_logout_redirect_uri: str
    ) -> tuple[BrowserSession | None, str | None]:
        """Deletes a session; the session, and the provider's end-session URL to send the
        browser to (RP-initiated logout), when there is one."""
        session = await self._sessions.get(digest(secret))
        if session is None:
            return None, None
        await self._sessions.delete(session.session_digest)
        try:
            issuer, client = await self._tenant_client(session.tenant_id)
        except SignInFailed:
            return session, None
        url = await self._provider.end_session_url(
            issuer,
            client,
            id_token=session.id_token,
            post_logout_redirect_uri=post_logout_redirect_uri,
        )
        return session, url
