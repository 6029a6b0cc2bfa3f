"""Schemathesis hooks for the API fuzz test (loaded through `SCHEMATHESIS_HOOKS`)."""

from __future__ import annotations

from typing import Any

import schemathesis


@schemathesis.serializer("application/csv")
def csv_body(context: schemathesis.SerializationContext, value: Any) -> bytes:
    """The import upload's `application/csv` body (Schemathesis knows only `text/*` as text)."""
    return value if isinstance(value, bytes) else str(value).encode()
