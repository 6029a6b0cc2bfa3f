"""Browser sessions and the sign-ins under way, each keyed by the digest of the secret the
browser holds (the session cookie, the `state` parameter). Expired documents are deleted by TTL
indexes; the use cases check expiry themselves, since a TTL sweep runs only now and then."""

from __future__ import annotations

import base64
import os
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pymongo import ASCENDING

from crm_gateway.domain.sessions import BrowserSession, LoginAttempt
from crm_shared import Database

BROWSER_SESSIONS = "browser_sessions"
LOGIN_ATTEMPTS = "login_attempts"


class TokenSealer:
    """Encrypts the provider's tokens stored with a session (AES-256-GCM, bound to the
    session's digest), so a copy of the database holds no usable token."""

    NONCE_BYTES = 12

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    @classmethod
    def derived_from(cls, secret: bytes) -> TokenSealer:
        """A sealer whose key is derived (HKDF-SHA256) from a secret the gateway holds anyway
        (its internal-token private key): no extra setting, and a new signing key makes the
        stored refresh tokens unreadable, which ends those sessions at their next refresh."""
        key = HKDF(
            algorithm=hashes.SHA256(),
            length=32,
            salt=None,
            info=b"crm-gateway browser session refresh tokens",
        ).derive(secret)
        return cls(key)

    def seal(self, plain: str, session_digest: str) -> str:
        nonce = os.urandom(self.NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plain.encode(), session_digest.encode())
        return base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def open(self, sealed: str, session_digest: str) -> str | None:
        """The plain token; None when it cannot be decrypted (another key, another session)."""
        try:
            raw = base64.urlsafe_b64decode(sealed.encode("ascii"))
            nonce, body = raw[: self.NONCE_BYTES], raw[self.NONCE_BYTES :]
            return self._aead.decrypt(nonce, body, session_digest.encode()).decode()
        except (InvalidTag, ValueError):
            return None


class MongoLoginAttempts:
    """Sign-ins under way; each is taken once, by its callback."""

    def __init__(self, database: Database) -> None:
        self._collection = database[LOGIN_ATTEMPTS]
        self._indexed = False

    async def insert(self, attempt: LoginAttempt) -> None:
        if not self._indexed:
            await self._collection.create_index([("expires_at", ASCENDING)], expireAfterSeconds=0)
            self._indexed = True
        await self._collection.insert_one(
            {
                "_id": attempt.state_digest,
                "tenant_id": attempt.tenant_id,
                "nonce": attempt.nonce,
                "code_verifier": attempt.code_verifier,
                "return_to": attempt.return_to,
                "redirect_uri": attempt.redirect_uri,
                "expires_at": attempt.expires_at,
            }
        )

    async def take(self, state_digest: str) -> LoginAttempt | None:
        """The attempt with this state, deleted as it is read (a state works once)."""
        document = await self._collection.find_one_and_delete({"_id": state_digest})
        if document is None:
            return None
        return LoginAttempt(
            state_digest=document["_id"],
            tenant_id=document["tenant_id"],
            nonce=document["nonce"],
            code_verifier=document["code_verifier"],
            return_to=document["return_to"],
            redirect_uri=document["redirect_uri"],
            expires_at=document["expires_at"],
        )


class MongoBrowserSessions:
    """Signed-in browsers in the gateway's database."""

    def __init__(self, database: Database, sealer: TokenSealer) -> None:
        self._collection = database[BROWSER_SESSIONS]
        self._sealer = sealer
        self._indexed = False

    async def insert(self, session: BrowserSession) -> None:
        if not self._indexed:
            await self._collection.create_index(
                [("absolute_expires_at", ASCENDING)], expireAfterSeconds=0
            )
            await self._collection.create_index([("tenant_id", ASCENDING), ("user_id", ASCENDING)])
            self._indexed = True
        await self._collection.insert_one(self._document(session))

    async def get(self, session_digest: str) -> BrowserSession | None:
        document = await self._collection.find_one({"_id": session_digest})
        return None if document is None else self._session(document)

    async def touch(self, session_digest: str, at: datetime) -> None:
        await self._collection.update_one({"_id": session_digest}, {"$set": {"last_seen_at": at}})

    async def replace(self, session: BrowserSession) -> None:
        """Stores a session's refreshed tokens (nothing when it was deleted meanwhile)."""
        document = self._document(session)
        del document["_id"]
        await self._collection.update_one({"_id": session.session_digest}, {"$set": document})

    async def delete(self, session_digest: str) -> bool:
        """Deletes a session; False when there was none."""
        result = await self._collection.delete_one({"_id": session_digest})
        return result.deleted_count == 1

    def _document(self, session: BrowserSession) -> dict[str, Any]:
        # The refresh token is a credential: stored sealed, sent to the provider, never logged
        # nor returned by any route.
        refresh = session.refresh_token
        return {
            "_id": session.session_digest,
            "tenant_id": session.tenant_id,
            "user_id": session.user_id,
            "issuer": session.issuer,
            "subject": session.subject,
            "email": session.email,
            "email_verified": session.email_verified,
            "name": session.name,
            "token_roles": sorted(session.token_roles),
            "csrf_token": session.csrf_token,
            # Its audience is the gateway's: it would pass as a bearer token until it expires.
            "id_token": self._sealer.seal(session.id_token, session.session_digest),
            "refresh_token": None
            if refresh is None
            else self._sealer.seal(refresh, session.session_digest),
            "tokens_expire_at": session.tokens_expire_at,
            "created_at": session.created_at,
            "last_seen_at": session.last_seen_at,
            "absolute_expires_at": session.absolute_expires_at,
        }

    def _session(self, document: dict[str, Any]) -> BrowserSession:
        sealed = document.get("refresh_token")
        return BrowserSession(
            session_digest=document["_id"],
            tenant_id=document["tenant_id"],
            user_id=document["user_id"],
            issuer=document["issuer"],
            subject=document["subject"],
            email=document.get("email"),
            email_verified=bool(document.get("email_verified")),
            name=document.get("name", ""),
            token_roles=frozenset(document.get("token_roles", [])),
            csrf_token=document["csrf_token"],
            id_token=self._sealer.open(document["id_token"], document["_id"]) or "",
            refresh_token=None if sealed is None else self._sealer.open(sealed, document["_id"]),
            tokens_expire_at=document["tokens_expire_at"],
            created_at=document["created_at"],
            last_seen_at=document["last_seen_at"],
            absolute_expires_at=document["absolute_expires_at"],
        )
