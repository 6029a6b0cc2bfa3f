"""The `write` / `check` command of a document generated from the code (`make contracts`)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path


def write_or_check(argv: list[str], document: Path, render: Callable[[], str]) -> int:
    """`write` regenerates `document`; `check` (the default) fails when the checked-in one is
    stale."""
    command = argv[0] if argv else "check"
    text = render()
    if command == "write":
        document.write_text(text, encoding="utf-8")
        print(f"wrote {document}")
        return 0
    if document.exists() and document.read_text(encoding="utf-8") == text:
        return 0
    print(f"{document} is stale: run `make contracts`", file=sys.stderr)
    return 1
