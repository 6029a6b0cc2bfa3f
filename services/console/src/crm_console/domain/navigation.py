"""The console's sections, and which a person sees: a section shows when their permissions
let them read what it lists (the API still decides every call)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

CONSOLE_PREFIX = "/console"


@dataclass(frozen=True)
class NavItem:
    label: str
    path: str
    # Any one of these lets a person use the section.
    needs: tuple[str, ...]


SECTIONS: tuple[NavItem, ...] = (
    NavItem("Home", f"{CONSOLE_PREFIX}/", ("analytics:read",)),
    NavItem("Analytics", f"{CONSOLE_PREFIX}/analytics", ("analytics:read",)),
    NavItem("Candidates", f"{CONSOLE_PREFIX}/candidates", ("candidates:read",)),
    NavItem("Imports", f"{CONSOLE_PREFIX}/imports", ("imports:read",)),
    NavItem("Talent pools", f"{CONSOLE_PREFIX}/pools", ("pools:read",)),
    NavItem("Segments", f"{CONSOLE_PREFIX}/segments", ("segments:read",)),
    NavItem("Templates", f"{CONSOLE_PREFIX}/templates", ("templates:read",)),
    NavItem("Sequences", f"{CONSOLE_PREFIX}/sequences", ("sequences:read",)),
    NavItem("Broadcasts", f"{CONSOLE_PREFIX}/broadcasts", ("broadcasts:read",)),
    NavItem("Events", f"{CONSOLE_PREFIX}/events", ("events:read",)),
    NavItem("Notifications", f"{CONSOLE_PREFIX}/notifications", ("sequences:read",)),
    NavItem(
        "Settings", f"{CONSOLE_PREFIX}/settings", ("settings:read", "users:read", "audit:read")
    ),
)


def navigation(permissions: Iterable[str]) -> list[NavItem]:
    """The sections a person with `permissions` sees, in menu order."""
    held = frozenset(permissions)
    return [item for item in SECTIONS if any(need in held for need in item.needs)]
