"""Where the browser goes after signing out: back to the console's sign-in page, also after
the identity provider's end-session page (which would otherwise return to the gateway's `/`,
an API root with no page)."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from crm_console.domain.navigation import CONSOLE_PREFIX

SIGNED_OUT_PATH = f"{CONSOLE_PREFIX}/sign-in?reason=signed_out"
RETURN_PARAMETER = "post_logout_redirect_uri"


def after_sign_out(end_session_url: str | None) -> str:
    """The provider's end-session URL with its return address moved to the console's sign-in
    page on the same origin the gateway named (never another origin); the sign-in page itself
    when the provider offers no end-session URL."""
    if not end_session_url:
        return SIGNED_OUT_PATH
    parts = urlsplit(end_session_url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    changed = []
    for name, value in query:
        if name == RETURN_PARAMETER:
            back = urlsplit(value)
            if back.scheme in ("http", "https") and back.netloc:
                path, _, signed_out = SIGNED_OUT_PATH.partition("?")
                value = urlunsplit((back.scheme, back.netloc, path, signed_out, ""))
        changed.append((name, value))
    return urlunsplit(parts._replace(query=urlencode(changed)))
