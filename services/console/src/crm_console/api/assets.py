"""The console's own files (`/console/static/...`), named by their content so a browser keeps
them until they change.

A page names each file with `asset(name)`: its path plus `?v=` and the first hex digits of its
SHA-256. Such a request is answered `immutable` for a year, so a browser asks for none of a
page's scripts and styles again until a release changes one (and with it the URL). Any other
request (no version, or one that is no longer the file's) is answered `no-cache`: the browser
checks with the server each time, as for the event embed script third-party sites load by its
plain path.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from crm_console.domain.navigation import CONSOLE_PREFIX

KEPT_FOR_A_YEAR = "public, max-age=31536000, immutable"
CHECKED_EACH_TIME = "no-cache"


def content_versions(directory: Path) -> dict[str, str]:
    """Each file under `directory` (by its path relative to it, `/`-separated) and the first 12
    hex digits of its SHA-256."""
    return {
        path.relative_to(directory).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


class VersionedStaticFiles(StaticFiles):
    """Static files with the caching `asset` URLs allow (see the module's docstring)."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory=directory)
        self.versions = content_versions(directory)

    def url(self, name: str) -> str:
        """The URL a page names file `name` by; a file that does not exist raises `KeyError`,
        so a misspelt name fails the page's test rather than the user's browser."""
        return f"{CONSOLE_PREFIX}/static/{name}?v={self.versions[name]}"

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code in (200, 304):
            asked = _version_asked(scope)
            current = self.versions.get(Path(path).as_posix())
            versioned = asked is not None and asked == current
            response.headers["Cache-Control"] = KEPT_FOR_A_YEAR if versioned else CHECKED_EACH_TIME
        return response


def _version_asked(scope: Scope) -> str | None:
    query: bytes = scope.get("query_string", b"")
    for part in query.decode("latin-1").split("&"):
        name, _, value = part.partition("=")
        if name == "v":
            return value
    return None
