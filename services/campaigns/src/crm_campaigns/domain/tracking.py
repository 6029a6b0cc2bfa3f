"""Open and click tracking: signed tokens, tracked links and the open pixel.

A token names the tenant, the message and (for clicks) the link's position; it is signed with
HMAC-SHA256, so it cannot be forged or pointed at another message. A click redirects to the URL
stored with the message at that position, never to a URL carried by the request.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from crm_shared import TokenSigner

TRANSPARENT_GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
_LINK = re.compile(r"""(<a\b[^>]*?\bhref\s*=\s*)(["'])(https?://[^"']+)\2""", re.IGNORECASE)


class TrackingKind(StrEnum):
    OPEN = "o"
    CLICK = "c"


@dataclass(frozen=True)
class TrackingClaim:
    """What a valid token vouches for."""

    kind: TrackingKind
    tenant_id: str
    message_id: str
    link_index: int | None = None


class TrackingTokens:
    """Signs and verifies tracking tokens with the service's secret."""

    def __init__(
        self, secret: str, *, key_id: str = "", retired_secrets: Mapping[str, str] | None = None
    ) -> None:
        secrets = [secret, *(retired_secrets or {}).values()]
        if any(len(each) < 32 for each in secrets):
            raise ValueError("a tracking secret must have at least 32 characters")
        self._signer = TokenSigner(
            secret.encode(),
            key_id=key_id,
            retired={k: v.encode() for k, v in (retired_secrets or {}).items()},
        )

    def token(self, claim: TrackingClaim) -> str:
        """A token for `claim`."""
        fields: list[str | int] = [claim.kind.value, claim.tenant_id, claim.message_id]
        if claim.link_index is not None:
            fields.append(claim.link_index)
        return self._signer.sign(fields)

    def verify(self, token: str, kind: TrackingKind) -> TrackingClaim | None:
        """The claim of a genuine token of `kind`; None for anything forged or malformed."""
        try:
            fields = self._signer.open(token)
            if fields is None or fields[0] != kind.value:
                return None
            link_index = int(fields[3]) if kind is TrackingKind.CLICK else None
            return TrackingClaim(kind, str(fields[1]), str(fields[2]), link_index)
        except (ValueError, IndexError, TypeError, KeyError):
            return None


@dataclass(frozen=True)
class TrackedHtml:
    """HTML whose links go through the click tracker, with the open pixel appended."""

    html: str
    links: list[str]


def instrument_html(
    html: str, *, tokens: TrackingTokens, tenant_id: str, message_id: str, base_url: str
) -> TrackedHtml:
    """Rewrites every http(s) link to its tracked URL and adds the open pixel.

    Links to our own public pages (unsubscribe, preferences) stay direct: a scanner following
    every link must not reach them through the tracker, and they need no click counting.
    """
    links: list[str] = []
    own_public_pages = f"{base_url.rstrip('/')}/public/"

    def tracked(match: re.Match[str]) -> str:
        if match.group(3).startswith(own_public_pages):
            return match.group(0)
        links.append(match.group(3))
        claim = TrackingClaim(TrackingKind.CLICK, tenant_id, message_id, len(links) - 1)
        return (
            f"{match.group(1)}{match.group(2)}{base_url}/t/c/{tokens.token(claim)}{match.group(2)}"
        )

    rewritten = _LINK.sub(tracked, html)
    open_token = tokens.token(TrackingClaim(TrackingKind.OPEN, tenant_id, message_id))
    pixel = f'<img src="{base_url}/t/o/{open_token}" width="1" height="1" alt="" />'
    index = rewritten.lower().rfind("</body>")
    if index >= 0:
        rewritten = rewritten[:index] + pixel + rewritten[index:]
    else:
        rewritten += pixel
    return TrackedHtml(rewritten, links)
