"""What a settings write changed, told to the gateway's audit log in a response header.

The services own their settings, so only they know the values before a write. A write answers
with `X-Audit-Changes`: a small JSON list of the fields it changed, each with its value before
and after (`{"field": "frequency_cap.max_messages", "before": 2, "after": 3}`), or, for a
secret (an API key, a webhook secret, ATS credentials), only that it changed
(`{"field": "api_key", "changed": true}`). The gateway records the list in the request's audit
entry and never forwards the header to the caller (docs/security.md, "Audit log").

The header is bounded: each value is cut to `MAX_VALUE_CHARS`, a list to `MAX_LIST_ITEMS`
items, and at most `MAX_CHANGES` fields in `MAX_HEADER_CHARS` are listed (then one
`{"field": "…", "more": n}`), so a large vocabulary cannot make the answer's headers too large
for the gateway's HTTP client.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from typing import Any

CHANGES_HEADER = "X-Audit-Changes"
MAX_CHANGES = 40
# The header's whole length: well inside what HTTP clients accept (h11: 16 KiB for all headers).
MAX_HEADER_CHARS = 6000
MAX_VALUE_CHARS = 120
MAX_LIST_ITEMS = 20
# What a list too long to show is cut to: its first items, then this marker.
_CUT = "…"

Change = dict[str, Any]


def _bounded(value: Any) -> Any:
    """A value small enough for the header: long text cut, long lists shortened, nested
    values (a dict) as bounded JSON text."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else list(value)
        shown = [_bounded(item) for item in items[:MAX_LIST_ITEMS]]
        return [*shown, _CUT] if len(items) > MAX_LIST_ITEMS else shown
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + _CUT


def _flat(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested settings as dotted fields (`frequency_cap.max_messages`)."""
    flat: dict[str, Any] = {}
    for name, value in values.items():
        key = f"{prefix}{name}"
        if isinstance(value, Mapping):
            # An empty mapping adds no field: `{}` and an absent one are the same settings.
            flat.update(_flat(value, key + "."))
        else:
            flat[key] = value
    return flat


def _secret(field: str, secrets: Collection[str]) -> bool:
    return any(field == name or field.startswith(name + ".") for name in secrets)


def changed_fields(
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    *,
    secrets: Collection[str] = (),
) -> list[Change]:
    """The fields whose values differ between two versions of a settings document (nested
    ones dotted), sorted by field; a field named in `secrets` (or under one) shows only that
    it changed, never a value. None is an absent document (a creation or a deletion)."""
    old, new = _flat(before or {}), _flat(after or {})
    changes: list[Change] = []
    for field in sorted(old.keys() | new.keys()):
        was, now = old.get(field), new.get(field)
        if was == now:
            continue
        if _secret(field, secrets):
            changes.append({"field": field, "changed": True})
        else:
            changes.append({"field": field, "before": _bounded(was), "after": _bounded(now)})
    return changes


def secret_changed(field: str) -> Change:
    """A change to a secret: that it changed, nothing of its value."""
    return {"field": field, "changed": True}


def changes_header(changes: list[Change]) -> dict[str, str]:
    """The response header naming `changes` (none when nothing changed); ASCII JSON, at most
    `MAX_CHANGES` fields."""
    if not changes:
        return {}
    shown: list[str] = []
    length = 2
    for change in changes[:MAX_CHANGES]:
        item = _json({key: _bounded(value) for key, value in change.items()})
        # Room kept for the closing "more" item.
        if length + len(item) + 1 > MAX_HEADER_CHARS - 40:
            break
        shown.append(item)
        length += len(item) + 1
    if len(shown) < len(changes):
        shown.append(_json({"field": _CUT, "more": len(changes) - len(shown)}))
    return {CHANGES_HEADER: "[" + ",".join(shown) + "]"}


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=True, separators=(",", ":"))


def read_changes(header: str | None) -> list[Change] | None:
    """The changes a service's header names (None without one, or when it is not the list
    `changes_header` writes: a malformed header is ignored, never an error for the caller)."""
    if not header:
        return None
    try:
        found = json.loads(header)
    except ValueError:
        return None
    if not isinstance(found, list):
        return None
    changes = [
        item
        for item in found[: MAX_CHANGES + 1]
        if isinstance(item, dict) and isinstance(item.get("field"), str)
    ]
    return [{key: _bounded(value) for key, value in item.items()} for item in changes]


def describe_change(change: Mapping[str, Any]) -> str:
    """One change as a line of text (the CSV export's `changes` cell):
    `field: before -> after`, `field: changed` for a secret."""
    field = change.get("field", "?")
    if "more" in change:
        return f"and {change['more']} more"
    if change.get("changed") is True and "before" not in change:
        return f"{field}: changed"
    return f"{field}: {_text(change.get('before'))} -> {_text(change.get('after'))}"


def _text(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)
