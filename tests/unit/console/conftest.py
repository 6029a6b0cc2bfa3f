"""The console in-process with a stand-in API, for every console unit test module."""

from unit.console.test_pages import console

__all__ = ["console"]
