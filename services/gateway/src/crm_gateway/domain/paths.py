"""Request paths as the gateway reads them (segment by segment, from the raw request target)
and writes them upstream (each segment percent-encoded)."""

from __future__ import annotations

import re
from urllib.parse import quote, unquote_to_bytes

_PERCENT_ESCAPE = re.compile(rb"%(?![0-9A-Fa-f]{2})")
# Characters that must never appear in a segment, even percent-encoded: the path and query
# delimiters (an encoded one would cut or re-split the path upstream), the backslash some
# servers take for a slash, and every control character.
_FORBIDDEN = re.compile(r"[/\\?#\x00-\x1f\x7f-\x9f]")


class InvalidPath(ValueError):
    """A request path the gateway refuses to interpret."""


def path_segments(raw_path: bytes) -> tuple[str, ...]:
    """The decoded segments of a raw request path (`/a/b%20c` -> `("a", "b c")`).

    Refused: dot segments (`.`, `..`, also encoded), encoded slashes and backslashes, encoded
    `?` and `#`, control characters, malformed percent-escapes and non-UTF-8 text. An empty
    segment (`//`, a trailing `/`) is kept, as `""`: it is not dangerous, merely unrouted.
    """
    if not raw_path.startswith(b"/"):
        raise InvalidPath("the path must start with '/'")
    if any(byte < 0x21 or byte > 0x7E for byte in raw_path):
        raise InvalidPath("the path must be printable ASCII (percent-encode anything else)")
    if _PERCENT_ESCAPE.search(raw_path):
        raise InvalidPath("the path has a malformed percent-escape")
    segments = []
    for raw_segment in raw_path[1:].split(b"/"):
        try:
            segment = unquote_to_bytes(raw_segment).decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidPath("a path segment is not UTF-8") from None
        if segment in (".", ".."):
            raise InvalidPath("the path has a dot segment ('.' or '..')")
        if _FORBIDDEN.search(segment):
            raise InvalidPath(
                "a path segment holds a slash, backslash, '?', '#' or a control character"
            )
        segments.append(segment)
    return tuple(segments)


def encoded_path(segments: tuple[str, ...] | list[str]) -> str:
    """An absolute path from decoded segments, each percent-encoded on its own: nothing in a
    segment can act as a delimiter once it is sent upstream."""
    return "".join("/" + quote(segment, safe="") for segment in segments)
