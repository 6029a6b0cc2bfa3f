"""Security headers for every HTML page a service serves, and the nonce-carrying docs page.

Pages are where a browser runs what a response says, so each gets a Content-Security-Policy
(no inline script or style unless it carries the response's own nonce; no framing), `nosniff`,
`Referrer-Policy: same-origin` (a page's URL may hold a personal link token, which a referrer
would hand to any site the page links to; `no-referrer` would also make a browser send
`Origin: null` with a form posted to the page's own site, which then cannot tell it from
another site's) and `Cache-Control: no-store` (a shared computer's
cache must not keep someone's preferences). A page may set a stricter or a nonce-carrying
policy itself; the middleware fills in only what the response lacks.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.datastructures import MutableHeaders
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crm_shared.framing import allows_framing

# Pages without script or style of their own: nothing may load, forms post back to the origin.
PAGE_CSP = "default-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
PAGE_HEADERS = {
    "Content-Security-Policy": PAGE_CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
# Swagger UI's script, style and icon, served by the service itself (see static/VENDOR.md):
# FastAPI's default loads them from a CDN, which a browser on a closed network cannot reach and
# which the page's policy would otherwise have to trust.
SWAGGER_ASSETS_PATH = "/docs/assets"
SWAGGER_ASSETS_DIRECTORY = Path(__file__).with_name("static") / "swagger-ui"
SWAGGER_SCRIPT = "swagger-ui-bundle-5.35.0.js"
SWAGGER_STYLE = "swagger-ui-5.35.0.css"
SWAGGER_ICON = "favicon-32x32.png"


def new_nonce() -> str:
    """A fresh CSP nonce: unguessable, one per response."""
    return secrets.token_urlsafe(18)


def swagger_ui_page(openapi_url: str, title: str) -> HTMLResponse:
    """FastAPI's Swagger UI page, its one inline script allowed by a per-response nonce."""
    nonce = new_nonce()
    html = get_swagger_ui_html(
        openapi_url=openapi_url,
        title=title,
        swagger_js_url=f"{SWAGGER_ASSETS_PATH}/{SWAGGER_SCRIPT}",
        swagger_css_url=f"{SWAGGER_ASSETS_PATH}/{SWAGGER_STYLE}",
        swagger_favicon_url=f"{SWAGGER_ASSETS_PATH}/{SWAGGER_ICON}",
    )
    page = bytes(html.body).decode()
    # The template has exactly one inline `<script>`: the bundle's own tag has a `src`.
    page = page.replace("<script>", f'<script nonce="{nonce}">', 1)
    policy = (
        f"default-src 'none'; script-src 'nonce-{nonce}' 'self'; "
        "style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
    return HTMLResponse(page, headers={"Content-Security-Policy": policy})


def mount_swagger_assets(app: FastAPI) -> None:
    """Serves the docs page's script, style and icon under `SWAGGER_ASSETS_PATH`."""
    app.mount(
        SWAGGER_ASSETS_PATH, StaticFiles(directory=SWAGGER_ASSETS_DIRECTORY), name="swagger-ui"
    )


class PageSecurityHeaders:
    """Adds the page headers above to every `text/html` response that lacks them (but no
    `X-Frame-Options` to a page whose own policy lets named sites frame it: an embeddable
    form), and `nosniff` to every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if headers.get("content-type", "").startswith("text/html"):
                    framed = allows_framing(headers.get("content-security-policy"))
                    for name, value in PAGE_HEADERS.items():
                        if not (framed and name == "X-Frame-Options"):
                            headers.setdefault(name, value)
                else:
                    headers.setdefault("X-Content-Type-Options", "nosniff")
            await send(message)

        await self.app(scope, receive, send_with_headers)
