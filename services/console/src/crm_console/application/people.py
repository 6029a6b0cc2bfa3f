"""The tenant's members by name, read once for a page that shows who did something."""

from __future__ import annotations

from crm_console.adapters.gateway_api import Caller, GatewayApi
from crm_console.application.lookups import API, choices
from crm_console.domain.people import People, people_from


async def read_people(
    api: GatewayApi, caller: Caller, *, may_list: bool, viewer_id: str, viewer_name: str
) -> People:
    """One `GET /team` (every member's id and name; every role may read it); when it cannot be
    read, only the viewer is known by name and other ids are shown as they are."""
    members = await choices(api.get(caller, f"{API}/team")) if may_list else None
    return people_from(members.items if members else [], viewer_id, viewer_name)
