"""Authentication of outside callers."""

from __future__ import annotations

import hmac

from crm_gateway.config import DevIdentity
from crm_shared import Principal


class DevTokenAuthenticator:
    """Authenticates the documented development bearer tokens (local stack and tests only)."""

    def __init__(self, tokens: dict[str, DevIdentity]) -> None:
        self._tokens = dict(tokens)

    def authenticate(self, token: str) -> Principal | None:
        """The principal a token stands for, or None for an unknown token."""
        for known, identity in self._tokens.items():
            # Constant-time comparison, so a token cannot be guessed by timing.
            if hmac.compare_digest(known.encode(), token.encode()):
                return Principal(
                    tenant_id=identity.tenant_id,
                    user_id=identity.user_id,
                    roles=frozenset(identity.roles),
                )
        return None
