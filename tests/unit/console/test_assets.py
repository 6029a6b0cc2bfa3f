"""The console's files are named by their content, so a browser keeps them until they change."""

from __future__ import annotations

import hashlib
import re

import httpx
import pytest

from crm_console.api.assets import VersionedStaticFiles
from crm_console.main import PACKAGE
from unit.console.test_pages import Api

pytestmark = pytest.mark.unit


async def test_a_page_names_its_files_by_content_and_they_are_kept_for_a_year(
    console: tuple[httpx.AsyncClient, Api],
) -> None:
    client, _ = console
    page = await client.get("/console/sign-in")
    named = dict(re.findall(r'/console/static/([\w./-]+)\?v=([0-9a-f]+)"', page.text))

    assert {"console.css", "console.js", "vendor/htmx-2.0.11.min.js"} <= named.keys()
    for name, version in named.items():
        content = (PACKAGE / "static" / name).read_bytes()
        assert version == hashlib.sha256(content).hexdigest()[:12], name
        answer = await client.get(f"/console/static/{name}", params={"v": version})
        assert answer.status_code == 200
        assert answer.content == content
        assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"


@pytest.mark.parametrize("query", ["", "?v=0123456789ab", "?other=1"])
async def test_a_file_asked_for_without_its_current_version_is_checked_each_time(
    console: tuple[httpx.AsyncClient, Api], query: str
) -> None:
    client, _ = console
    answer = await client.get(f"/console/static/embed.js{query}")
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-cache"


def test_a_file_that_does_not_exist_cannot_be_named() -> None:
    with pytest.raises(KeyError):
        VersionedStaticFiles(PACKAGE / "static").url("consol.js")
