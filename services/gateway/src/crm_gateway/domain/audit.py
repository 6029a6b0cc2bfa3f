"""The audit log's rules: which requests are recorded, and what an entry holds.

An entry says who did what to which resource, with what outcome, and nothing else: the caller's
id (a user's or an API key's, never a secret), the action as method and route template (never
the raw path or query, which may carry names or addresses), the resource as the path
parameters' values (ids), and the status code.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import unquote, urlsplit

# Methods that change nothing: a read is recorded only when it is refused, made with an API key,
# or is itself an export of personal or audit data (below).
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Reads that hand out data wholesale, recorded like writes (method and route template).
SENSITIVE_READS = frozenset(
    {
        "GET /candidates/{candidate_id}/export",
        "GET /audit/export",
        # Names the candidates whose addresses are suppressed, the whole list at once.
        "GET /suppressions.csv",
    }
)
# A path parameter is an id; anything longer is cut, so a path cannot smuggle a document in.
MAX_RESOURCE_VALUE_LENGTH = 128
# What a request whose route was never resolved is recorded as.
UNRESOLVED_TEMPLATE = "(unresolved)"


class Outcome(StrEnum):
    """How a request ended, as the audit log reports it."""

    SUCCEEDED = "succeeded"
    REFUSED = "refused"
    FAILED = "failed"


class ActorKind(StrEnum):
    """Who acted: a signed-in user, an API key, a caller who never authenticated, or the
    gateway itself (a migration applying a rule to data stored before it, `migration:<n>`)."""

    USER = "user"
    API_KEY = "api_key"
    ANONYMOUS = "anonymous"
    SYSTEM = "system"


@dataclass(frozen=True)
class Actor:
    """The caller of a request; `id` is the user's or the key's id, never a credential."""

    kind: ActorKind
    id: str | None = None
    tenant_id: str | None = None

    @classmethod
    def anonymous(cls) -> Actor:
        return cls(ActorKind.ANONYMOUS)


def outcome_of(status: int) -> Outcome:
    """Succeeded below 400; refused for a 4xx (not allowed, invalid, in conflict, too many);
    failed for a 5xx (the system could not do what it was asked)."""
    if status < 400:
        return Outcome.SUCCEEDED
    if status < 500:
        return Outcome.REFUSED
    return Outcome.FAILED


def created_id(status: int, location: str | None) -> str | None:
    """The id a successful creation answered with: the last segment of its `Location`."""
    if not 200 <= status < 300 or not location:
        return None
    path = urlsplit(location).path.rstrip("/")
    return unquote(path.rsplit("/", 1)[-1]) or None


def is_audited(method: str, action: str, status: int, actor: Actor) -> bool:
    """Every write, every refusal (401/403), every use of an API key and every bulk export."""
    return (
        method.upper() not in READ_METHODS
        or status in (401, 403)
        or actor.kind is ActorKind.API_KEY
        or action in SENSITIVE_READS
    )


def action_name(method: str, template: str) -> str:
    """`POST /candidates/{candidate_id}/notes`: the method and the route template."""
    return f"{method.upper()} {template}"


def path_parameters(template: str, segments: Sequence[str]) -> dict[str, str]:
    """The values of a template's parameters in a decoded path (`{candidate_id}` -> `c-1`)."""
    parts = template.strip("/").split("/")
    if len(parts) != len(segments):
        return {}
    return {
        part[1:-1]: value
        for part, value in zip(parts, segments, strict=True)
        if part.startswith("{") and part.endswith("}")
    }


def bounded_resource(values: Mapping[str, object]) -> dict[str, str]:
    """Path parameter values as stored: strings, each cut to `MAX_RESOURCE_VALUE_LENGTH`."""
    return {name: str(value)[:MAX_RESOURCE_VALUE_LENGTH] for name, value in values.items()}


def entry_id(at: datetime) -> str:
    """A unique id that sorts by time (milliseconds, then random), so newest-first paging
    needs only the id."""
    return f"{int(at.timestamp() * 1000):013d}-{secrets.token_hex(6)}"


@dataclass(frozen=True)
class AuditEntry:
    """One audited request or sign-in event, as it is stored and read back."""

    id: str
    at: datetime
    tenant_id: str | None
    actor: Actor
    action: str
    status: int
    outcome: Outcome
    resource: dict[str, str] = field(default_factory=dict)
    request_id: str | None = None
    trace_id: str | None = None
    client_address: str | None = None
    # Why an authentication failed (`expired`, `wrong_audience`, ...), when the gateway knows.
    reason: str | None = None
    # What a settings or member write changed: `{field, before, after}`, or `{field,
    # changed: true}` for a secret (crm_shared.audit_changes); None when nothing was told.
    changes: list[dict[str, Any]] | None = None

    def expires_at(self, retention: timedelta) -> datetime:
        """When the entry is deleted by the store (the retention after it was written)."""
        return self.at + retention


@dataclass(frozen=True)
class AuditQuery:
    """The filters of a search of one tenant's audit log; None filters nothing."""

    since: datetime | None = None
    until: datetime | None = None
    actor_id: str | None = None
    action: str | None = None
    outcome: Outcome | None = None
    # Resume after this entry id (newest first: older entries only).
    before_id: str | None = None
