"""Where the browser goes after signing out: the console's signed-out page, also after the
identity provider's end-session page (which would otherwise return to the gateway's `/`, an
API root with no page), with the way back to the page the person left."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from crm_console.domain.navigation import CONSOLE_PREFIX

SIGN_IN_PATH = f"{CONSOLE_PREFIX}/sign-in"
SIGNED_OUT_PATH = f"{SIGN_IN_PATH}?reason=signed_out"
RETURN_PARAMETER = "post_logout_redirect_uri"


def safe_return_path(value: str | None) -> str:
    """A console path to come back to after signing in; anything else is the home page (an
    open redirect would let a link send someone elsewhere after a genuine sign-in)."""
    if value and value.startswith(f"{CONSOLE_PREFIX}/") and "\\" not in value and "//" not in value:
        return value
    return f"{CONSOLE_PREFIX}/"


def page_left(url: str | None) -> str:
    """The console page a browser address (htmx's `HX-Current-URL`, a `Referer`) names, as a
    path to return to; the home page for anything else. Only the path and query are kept, so
    another origin's address cannot become the way back."""
    if not url:
        return safe_return_path(None)
    parts = urlsplit(url)
    return safe_return_path(parts.path + (f"?{parts.query}" if parts.query else ""))


def signed_out_page(return_to: str, tenant: str | None) -> str:
    """The signed-out page (the sign-in page saying so) with "Sign in again" to `return_to`."""
    query = {"reason": "signed_out", "return_to": safe_return_path(return_to)}
    if tenant:
        query["tenant"] = tenant
    return f"{SIGN_IN_PATH}?{urlencode(query)}"


def after_sign_out(
    end_session_url: str | None, return_to: str = f"{CONSOLE_PREFIX}/", tenant: str | None = None
) -> str:
    """The provider's end-session URL with its return address moved to the console's
    signed-out page on the same origin the gateway named (never another origin); the
    signed-out page itself when the provider offers no end-session URL."""
    signed_out = signed_out_page(return_to, tenant)
    if not end_session_url:
        return signed_out
    parts = urlsplit(end_session_url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    changed = []
    for name, value in query:
        if name == RETURN_PARAMETER:
            back = urlsplit(value)
            if back.scheme in ("http", "https") and back.netloc:
                path, _, page_query = signed_out.partition("?")
                value = urlunsplit((back.scheme, back.netloc, path, page_query, ""))
        changed.append((name, value))
    return urlunsplit(parts._replace(query=urlencode(changed)))
