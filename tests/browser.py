"""Browser tests' tools: Debian's Chromium driven by Playwright, axe-core from npm, and the
checks every console page gets (no script error or blocked resource, no serious axe finding).

Playwright's own browser download cannot be reached here; the test command installs Debian's
`chromium` (`make browser`), and a missing browser fails the tests with that instruction rather
than skipping them."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright

from crm_devstack.config import default_cache_dir

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
AXE_VERSION = "4.11.4"
# axe-core's rule tags for WCAG 2.1 A and AA.
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
FAILING_IMPACTS = frozenset({"serious", "critical"})
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
# Where screenshots go: a scratch directory unless `make console-screenshots` names docs/console.
SCREENSHOT_DIR = Path(
    os.environ.get("CONSOLE_SCREENSHOT_DIR") or Path(tempfile.gettempdir()) / "console-screens"
)
# A page's answer (an htmx round trip through the gateway) takes seconds when the test run's
# two workers keep both cores busy; expectations wait that long, not Playwright's 5 s.
expect.set_options(timeout=20_000)


def axe_source(cache_dir: Path | None = None) -> str:
    """axe-core's browser build, fetched once with `npm pack` (which checks the registry's
    integrity hash) into the cache."""
    target = (cache_dir or default_cache_dir()) / "npm" / f"axe-core-{AXE_VERSION}" / "axe.min.js"
    if not target.is_file():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("npm is needed to fetch axe-core for the browser tests")
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as scratch:
            subprocess.run(
                [npm, "pack", f"axe-core@{AXE_VERSION}", "--silent"],
                cwd=scratch,
                check=True,
                capture_output=True,
                timeout=300,
            )
            with tarfile.open(Path(scratch) / f"axe-core-{AXE_VERSION}.tgz") as archive:
                member = archive.extractfile("package/axe.min.js")
                assert member is not None
                partial = target.with_suffix(".part")
                partial.write_bytes(member.read())
                partial.rename(target)
    return target.read_text()


@contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's Chromium, headless, under Playwright."""
    if not CHROMIUM.is_file():
        pytest.fail(
            f"no Chromium at {CHROMIUM}: install it with `make browser` "
            "(apt-get install chromium), or set CHROMIUM_PATH"
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class PageWatch:
    """What went wrong in a page that the page itself would not show: script errors, console
    errors (a resource the CSP blocked is one) and failed requests."""

    errors: list[str] = field(default_factory=list)

    def attach(self, page: Page) -> None:
        page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))
        page.on("console", self._console)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            text = message.text
            # An API refusal the page shows to the person is not a fault of the page (the
            # browser logs its status, and htmx each 4xx fragment it swaps in as an error).
            if "the server responded with a status of 4" in text or re.match(
                r"Response Status Error Code 4\d\d from ", text
            ):
                return
            self.errors.append(f"console: {text}")

    def assert_clean(self) -> None:
        assert self.errors == [], "\n".join(self.errors)


def accessibility_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical WCAG 2.1 AA findings on the page as it is now."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        # Evaluated over the DevTools protocol: the page's CSP does not apply to it.
        page.evaluate(axe_source() + "\n;undefined")
    results = page.evaluate(
        "async (tags) => await axe.run(document, {runOnly: {type: 'tag', values: tags}})",
        WCAG_21_AA,
    )
    return [
        {
            "id": violation["id"],
            "impact": violation["impact"],
            "help": violation["help"],
            "targets": [node["target"] for node in violation["nodes"]][:5],
        }
        for violation in results["violations"]
        if violation["impact"] in FAILING_IMPACTS
    ]


def assert_accessible(page: Page) -> None:
    violations = accessibility_violations(page)
    assert violations == [], json.dumps(violations, indent=2)


def screenshot(page: Page, name: str) -> Path:
    """Saves the page as `<name>.png` in the screenshot directory (docs/console/ on request)."""
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOT_DIR / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
