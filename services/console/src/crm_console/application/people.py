"""The tenant's members by name, read once for a page that shows who did something."""

from __future__ import annotations

from crm_console.adapters.gateway_api import Caller, GatewayApi
from crm_console.application.lookups import API, Choices, choices
from crm_console.application.session_memo import Memo
from crm_console.domain.people import People, people_from

# How long a session's team list is reused (a profile and the panels it loads after it name
# people: one read). A member who joins or changes their name is named so within this time.
TEAM_SECONDS = 30.0


async def read_people(
    api: GatewayApi,
    caller: Caller,
    *,
    may_list: bool,
    viewer_id: str,
    viewer_name: str,
    memo: Memo | None = None,
) -> People:
    """One `GET /team` (every member's id and name; every role may read it), or the one this
    session read in the last `TEAM_SECONDS` (`memo`); when it cannot be read, only the viewer
    is known by name and other ids are shown as they are (and it is asked again next time)."""
    members: Choices | None = None
    if may_list:
        members = memo.get("team") if memo else None
        if members is None:
            members = await choices(api.get(caller, f"{API}/team"))
            if memo and members.unavailable is None:
                memo.put(members, "team", ttl_seconds=TEAM_SECONDS)
    return people_from(members.items if members else [], viewer_id, viewer_name)
