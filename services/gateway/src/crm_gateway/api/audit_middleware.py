"""Recording the authenticated API's requests in the audit log, at the HTTP edge.

`AuditRecorder` wraps every `/api/v1` request: it gives the request an id (`X-Request-Id`),
lets the authentication dependency and the proxy note who called and which operation they
reached (`note_caller`, `note_rejection`, `note_operation`), and once the response has gone out
hands an entry to the `AuditTrail` buffer when the domain rules say the request is audited.
Nothing here waits for the database.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request, Response
from opentelemetry import trace
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crm_gateway.application.audit import AuditTrail
from crm_gateway.domain.audit import (
    UNRESOLVED_TEMPLATE,
    Actor,
    ActorKind,
    AuditEntry,
    Outcome,
    action_name,
    bounded_resource,
    created_id,
    entry_id,
    is_audited,
    outcome_of,
    path_parameters,
)
from crm_gateway.domain.client_address import client_address
from crm_gateway.domain.routing import PUBLIC_API_PREFIX, route_for
from crm_shared import Principal, ProblemError, utc_now
from crm_shared.audit_changes import Change

REQUEST_ID_HEADER = "X-Request-Id"
_STATE_KEY = "audit"


@dataclass
class AuditContext:
    """What one request's handling learns about it, for its audit entry."""

    request_id: str
    actor: Actor = field(default_factory=Actor.anonymous)
    template: str | None = None
    resource: dict[str, str] = field(default_factory=dict)
    reason: str | None = None
    # The id a creation answered with (its `Location`, or the gateway's own route's id), as
    # the entry's resource.
    created_id: str | None = None
    # What the write changed, as the owning service (or the gateway's own route) told it.
    changes: list[Change] | None = None


def _context(request: Request) -> AuditContext | None:
    found = request.scope.get("state", {}).get(_STATE_KEY)
    return found if isinstance(found, AuditContext) else None


def note_caller(request: Request, principal: Principal, *, api_key_id: str | None = None) -> None:
    """Names the authenticated caller: the user, or the API key when one was presented (its
    id, never its secret)."""
    context = _context(request)
    if context is not None:
        kind = ActorKind.API_KEY if api_key_id else ActorKind.USER
        context.actor = Actor(kind, api_key_id or principal.user_id, principal.tenant_id)


def note_rejection(
    request: Request,
    reason: str,
    *,
    tenant_id: str | None = None,
    api_key_id: str | None = None,
    user_id: str | None = None,
) -> None:
    """Says why the caller's credentials were refused (`expired`, `unknown_token`,
    `membership-removed`, ...), and the tenant they were for when that is known for sure (a
    real key of it, a verified token of its provider), so the tenant's admins see the refusal;
    a real key that was revoked or expired, or the verified person of a removed membership, is
    named as the caller."""
    context = _context(request)
    if context is not None:
        context.reason = reason
        if tenant_id is not None and context.actor.tenant_id is None:
            if api_key_id:
                context.actor = Actor(ActorKind.API_KEY, api_key_id, tenant_id)
            elif user_id:
                context.actor = Actor(ActorKind.USER, user_id, tenant_id)
            else:
                context.actor = Actor(ActorKind.ANONYMOUS, None, tenant_id)


def note_changes(request: Request, changes: list[Change] | None) -> None:
    """Records what the write changed (`crm_shared.audit_changes`), when anything did."""
    context = _context(request)
    if context is not None and changes:
        context.changes = changes


def note_created(request: Request, created: str) -> None:
    """Names the record a gateway route created, for an answer without a `Location`."""
    context = _context(request)
    if context is not None:
        context.created_id = created


def note_refusal(request: Request, problem_type: str | None) -> None:
    """Names a 401/403 answer's problem type (`forbidden`, `insufficient-scope`, `csrf`, ...)
    as its reason, unless the credentials' own check already said why."""
    context = _context(request)
    if context is not None and context.reason is None and problem_type:
        context.reason = problem_type


def record_consequence(
    request: Request, method: str, template: str, resource: dict[str, str], reason: str
) -> None:
    """Records a change a request made besides its own (an API key revoked because its creator
    was removed): its own entry, with the request's caller, request id and `reason`, so the
    admins see each key that stopped and why."""
    context = _context(request)
    container = getattr(request.app.state, "container", None)
    trail: AuditTrail | None = getattr(container, "audit_trail", None)
    if context is None or trail is None or container is None:
        return
    peer = request.client.host if request.client else "unknown"
    at = utc_now()
    trail.record(
        AuditEntry(
            id=entry_id(at),
            at=at,
            tenant_id=context.actor.tenant_id,
            actor=context.actor,
            action=action_name(method, template),
            status=200,
            outcome=outcome_of(200),
            resource=bounded_resource(resource),
            request_id=context.request_id,
            client_address=client_address(
                peer, request.headers.getlist("x-forwarded-for"), container.trusted_proxies
            ),
            reason=reason,
        )
    )


def audit_refusals(app: FastAPI) -> None:
    """Makes every 401/403 problem the app answers name its reason in the audit entry: the
    refusals raised outside the gateway's own authentication (the shared permission check,
    the proxy's scope check, CSRF) are then as clear in the log as a rejected token."""
    answer = app.exception_handlers[ProblemError]

    async def on_problem(request: Request, error: Exception) -> Response:
        if isinstance(error, ProblemError) and error.status in (401, 403):
            note_refusal(request, error.problem_type)
        answered = answer(request, error)
        if inspect.isawaitable(answered):
            answered = await answered
        assert isinstance(answered, Response)
        return answered

    app.add_exception_handler(ProblemError, on_problem)


def note_operation(request: Request, template: str, segments: Sequence[str]) -> None:
    """Names the service operation a forwarded request reached, and its path parameters."""
    context = _context(request)
    if context is not None:
        context.template = template
        context.resource = bounded_resource(path_parameters(template, segments))


class AuditRecorder:
    """Hands an entry for every audited `/api/v1` request to the gateway's `AuditTrail`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        container = getattr(getattr(scope.get("app"), "state", None), "container", None)
        trail: AuditTrail | None = getattr(container, "audit_trail", None)
        if scope["type"] != "http" or trail is None or not _api_path(scope):
            await self.app(scope, receive, send)
            return
        context = AuditContext(request_id=uuid.uuid4().hex)
        scope.setdefault("state", {})[_STATE_KEY] = context
        span = trace.get_current_span().get_span_context()
        trace_id = format(span.trace_id, "032x") if span.is_valid else None
        status = 500

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = MutableHeaders(scope=message)
                headers[REQUEST_ID_HEADER] = context.request_id
                context.created_id = (
                    created_id(status, headers.get("location")) or context.created_id
                )
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            entry = _entry(scope, container, context, status, trace_id)
            if entry is not None:
                trail.record(entry)


def _api_path(scope: Scope) -> bool:
    path = str(scope.get("path", ""))
    root = str(scope.get("root_path", ""))
    if root and path.startswith(root):
        path = path[len(root) :]
    return path.startswith(PUBLIC_API_PREFIX + "/")


def _entry(
    scope: Scope, container: Any, context: AuditContext, status: int, trace_id: str | None
) -> AuditEntry | None:
    method = str(scope["method"]).upper()
    template, resource = _operation(scope, container, context)
    if context.created_id is not None:
        resource = {**resource, **bounded_resource({"created_id": context.created_id})}
    action = action_name(method, template)
    if not is_audited(method, action, status, context.actor):
        return None
    peer = scope["client"][0] if scope.get("client") else "unknown"
    forwarded = [
        value.decode("latin-1") for name, value in scope["headers"] if name == b"x-forwarded-for"
    ]
    at = utc_now()
    return AuditEntry(
        id=entry_id(at),
        at=at,
        tenant_id=context.actor.tenant_id,
        actor=context.actor,
        action=action,
        status=status,
        outcome=outcome_of(status),
        resource=resource,
        request_id=context.request_id,
        trace_id=trace_id,
        client_address=client_address(peer, forwarded, container.trusted_proxies),
        reason=context.reason,
        changes=context.changes if outcome_of(status) is Outcome.SUCCEEDED else None,
    )


def _operation(scope: Scope, container: Any, context: AuditContext) -> tuple[str, dict[str, str]]:
    """The route template (without `/api/v1`) and path parameters of the request: the service
    operation the proxy reached, the gateway's own route, or the routed resource only."""
    if context.template is not None:
        return context.template, context.resource
    route = scope.get("route")
    path_format = str(getattr(route, "path_format", ""))
    params = dict(scope.get("path_params", {}))
    if path_format and "{path:path}" not in str(getattr(route, "path", "")):
        return path_format.removeprefix(PUBLIC_API_PREFIX), bounded_resource(params)
    # Not resolved to an operation (refused before routing, or no such operation): the routed
    # resource only, never the raw path.
    forwarded_path = str(params.get("path", ""))
    routed = route_for(container.routes, forwarded_path) if forwarded_path else None
    if routed is None:
        return UNRESOLVED_TEMPLATE, {}
    return f"/{routed.resource}/{UNRESOLVED_TEMPLATE}", {}
