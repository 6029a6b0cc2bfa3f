"""Who did something, by name: the tenant's members as one lookup a page reads once, an id
the lookup does not know (a removed member, an API key) shown as it is."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from crm_shared.text import fold


@dataclass(frozen=True)
class People:
    """User id -> the person's name, for the ids one page shows."""

    names: Mapping[str, str] = field(default_factory=dict)

    def name(self, user_id: str | None) -> str:
        """The person's name; the id itself when nobody by that id is known."""
        if not user_id:
            return ""
        return self.names.get(user_id) or user_id

    def knows(self, user_id: str | None) -> bool:
        return bool(user_id) and user_id in self.names

    def ids_named(self, name: str) -> list[str]:
        """The ids of the people called `name` (case and accents aside: "alice admin" finds
        Alice Admin), for a filter the API takes as an id."""
        wanted = fold(name)
        return sorted(user_id for user_id, shown in self.names.items() if fold(shown) == wanted)


NOBODY = People()


def people_from(members: Iterable[Mapping[str, Any]], viewer_id: str, viewer_name: str) -> People:
    """The lookup from the API's team list (`GET /team` items), the viewer always in it
    (their name comes with the session, so a page names them even when members are not
    readable); a member without a name yet (an invitation) is shown by id."""
    names: dict[str, str] = {}
    for member in members:
        user_id = member.get("user_id")
        if isinstance(user_id, str) and user_id:
            shown = str(member.get("name") or "").strip()
            if shown:
                names[user_id] = shown
    if viewer_name and viewer_name != viewer_id:
        names.setdefault(viewer_id, viewer_name)
    return People(names)
