"""What the gateway does to every request and response, whichever route serves it."""

from __future__ import annotations

from urllib.parse import quote

from starlette.types import ASGIApp, Receive, Scope, Send

from crm_gateway.domain.paths import InvalidPath, path_segments
from crm_shared import problem_response


def raw_path(scope: Scope) -> bytes:
    """The request path as it came over the wire, percent-escapes intact."""
    raw = scope.get("raw_path")
    if isinstance(raw, bytes) and raw:
        return raw.partition(b"?")[0]
    # Servers that give no raw path: the decoded one re-encoded (an encoded slash is lost).
    return quote(str(scope["path"]), safe="/").encode("ascii")


class PathGuard:
    """Refuses a path the gateway would not read unambiguously (dot segments, encoded slashes,
    `?` or `#`, control characters) with a 400 problem, before any route or service sees it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            raw = raw_path(scope)
            try:
                path_segments(raw)
            except InvalidPath as error:
                response = problem_response(
                    400,
                    f"the request path is not valid: {error}",
                    instance=raw.decode("ascii", "replace"),
                    problem_type="invalid-path",
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
