"""JSON request bodies must be Unicode text: an unpaired surrogate is refused with a 422.

JSON lets a string escape any UTF-16 code unit, so `"\\ud800"` is valid JSON; Python decodes it
into a `str` holding a lone surrogate, which pydantic accepts and UTF-8 cannot encode. The first
write of such a value to MongoDB (BSON strings are UTF-8) failed, and the request was a 500.
"""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crm_shared.errors import FieldError, validation_problem

# After decoding, a surrogate pair is one code point: any surrogate left is unpaired.
_SURROGATE = re.compile("[\ud800-\udfff]")
# Larger bodies pass uninspected: the gateway refuses a JSON body past 1 MiB before any service
# sees it, and buffering more here would let one request hold that much memory.
MAX_INSPECTED_BYTES = 1_048_576
_JSON_MEDIA_TYPE = re.compile(r"^application/(?:[\w.+-]+\+)?json\s*(?:;|$)", re.IGNORECASE)


def has_unpaired_surrogate(value: Any) -> bool:
    """Whether a decoded JSON value holds a string (or key) with an unpaired surrogate."""
    if isinstance(value, str):
        return _SURROGATE.search(value) is not None
    if isinstance(value, dict):
        return any(has_unpaired_surrogate(k) or has_unpaired_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_unpaired_surrogate(item) for item in value)
    return False


def _is_json(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            return _JSON_MEDIA_TYPE.match(value.decode("latin-1")) is not None
    return False


class RejectUnpairedSurrogates:
    """ASGI middleware: a JSON request body with an unpaired surrogate gets a 422 problem; every
    other request reaches the app with its body unchanged."""

    def __init__(self, app: ASGIApp, max_inspected_bytes: int = MAX_INSPECTED_BYTES) -> None:
        self.app = app
        self.max_inspected_bytes = max_inspected_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                # The client went away: the app sees what came, then the disconnect.
                await self.app(scope, _replay(chunks, message, receive), send)
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if not message.get("more_body", False):
                break
            if size > self.max_inspected_bytes:
                # Too large to inspect: the app gets what came so far, then the rest as it comes.
                await self.app(scope, _replay(chunks, None, receive, complete=False), send)
                return
        body = b"".join(chunks)
        # Only an escape can produce a surrogate: UTF-8 text cannot hold one.
        if b"\\u" in body and _unpaired_surrogate_in(body):
            await _refused(scope)(scope, receive, send)
            return
        await self.app(scope, _replay([body], None, receive), send)


def _refused(scope: Scope) -> ASGIApp:
    return validation_problem(
        [
            FieldError.whole_body(
                "a string holds an unpaired UTF-16 surrogate escape (such as \\ud800), which is "
                "not Unicode text"
            )
        ]
    ).response(scope.get("path", ""))


def _unpaired_surrogate_in(body: bytes) -> bool:
    try:
        document = json.loads(body)
    except ValueError:
        return False  # not JSON: the app answers that with its own 422
    return has_unpaired_surrogate(document)


def _replay(
    chunks: list[bytes], then: Message | None, receive: Receive, *, complete: bool = True
) -> Receive:
    """A `receive` that yields the body chunks already read (and the message that ended the
    reading, if any), then reads on."""
    pending: list[Message] = [
        {"type": "http.request", "body": chunk, "more_body": True} for chunk in chunks
    ]
    if then is not None:
        pending.append(then)
    elif pending and complete:
        pending[-1]["more_body"] = False

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed
