"""Unit tests reach no database: a service app a unit test builds from default settings would
otherwise write (audit entries, for one) into the local stack's database when `make run` is up
on the default port, mixing test data into the demo tenant."""

from __future__ import annotations

import pytest

# Port 1 (tcpmux) is closed on these machines; a connection is refused at once.
UNREACHABLE_DATABASE = "mongodb://127.0.0.1:1/?directConnection=true&serverSelectionTimeoutMS=200"


@pytest.fixture(autouse=True)
def no_local_stack_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONGODB_URI", UNREACHABLE_DATABASE)
