"""What the administration pages read and change through the gateway's API: members and
their roles, API keys, and the audit log."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from crm_console.adapters.gateway_api import ApiProblem, Caller, Download, GatewayApi
from crm_console.application.parts import items, part
from crm_console.domain.profile import job_names, shown_job, unnamed_jobs
from crm_console.domain.settings import AuditFilters, SuppressionFilters

# Rejected payloads shown at a time: each may hold a body of up to 64 KiB.
REJECTED_PAGE = 10
# An ATS connection's applications are listed this many to a page.
APPLICATIONS_PAGE = 50
# Pending members whose invitation mails one request asks for (the API's page size).
INVITATIONS_PER_REQUEST = 100

API = "/api/v1"


class TenantAdministration:
    """Members, invitations and API keys of the signed-in person's tenant."""

    def __init__(self, api: GatewayApi) -> None:
        self._api = api

    async def members(self, caller: Caller) -> list[dict[str, Any]]:
        """Members and pending invitations, by address."""
        answer = await self._api.get(caller, f"{API}/users")
        members: list[dict[str, Any]] = answer["items"]
        return sorted(members, key=lambda member: str(member["email"]).lower())

    async def member(self, caller: Caller, user_id: str) -> dict[str, Any]:
        found: dict[str, Any] = await self._api.get(caller, f"{API}/users/{user_id}")
        return found

    async def invite(self, caller: Caller, email: str, roles: list[str]) -> dict[str, Any]:
        invited: dict[str, Any] = await self._api.send(
            caller, "POST", f"{API}/users", {"email": email, "roles": roles}
        )
        return invited

    async def latest_invitation_mails(
        self, caller: Caller, members: list[dict[str, Any]]
    ) -> dict[str, dict[str, Any]]:
        """The latest invitation mail of each pending member, by user id (none yet: the mail
        is on its way). One request per hundred pending members, not one per row."""
        pending = [str(m["user_id"]) for m in members if m.get("status") == "invited"]
        latest: dict[str, dict[str, Any]] = {}
        for start in range(0, len(pending), INVITATIONS_PER_REQUEST):
            mails = await self._api.every_page(
                caller,
                f"{API}/invitation-mails",
                {
                    "user_id": pending[start : start + INVITATIONS_PER_REQUEST],
                    "limit": INVITATIONS_PER_REQUEST,
                },
                max_pages=10,
            )
            # In the order of the invitations: the last one seen is the latest.
            latest.update((str(mail["user_id"]), mail) for mail in mails)
        return latest

    async def resend_invitation(self, caller: Caller, user_id: str) -> dict[str, Any]:
        """Mails a pending invitation again (409 once the person has signed in)."""
        resent: dict[str, Any] = await self._api.send(
            caller, "POST", f"{API}/users/{user_id}/invitation"
        )
        return resent

    async def change_roles(self, caller: Caller, user_id: str, roles: list[str]) -> dict[str, Any]:
        """New roles for a member (a 409 when that would leave the tenant without an admin)."""
        changed: dict[str, Any] = await self._api.send(
            caller, "PATCH", f"{API}/users/{user_id}", {"roles": roles}
        )
        return changed

    async def remove(self, caller: Caller, user_id: str) -> None:
        await self._api.send(caller, "DELETE", f"{API}/users/{user_id}")

    async def api_keys(self, caller: Caller) -> list[dict[str, Any]]:
        """Every key, newest first, revoked and expired ones included."""
        answer = await self._api.get(caller, f"{API}/api-keys")
        keys: list[dict[str, Any]] = answer["items"]
        return sorted(keys, key=lambda key: str(key["created_at"]), reverse=True)

    async def create_api_key(self, caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
        """The new key, with its secret: the only time anyone sees it."""
        created: dict[str, Any] = await self._api.send(caller, "POST", f"{API}/api-keys", body)
        return created

    async def revoke_api_key(self, caller: Caller, key_id: str) -> None:
        await self._api.send(caller, "DELETE", f"{API}/api-keys/{key_id}")


class AuditTrail:
    """The tenant's audit log."""

    def __init__(self, api: GatewayApi) -> None:
        self._api = api

    async def search(self, caller: Caller, filters: AuditFilters) -> dict[str, Any]:
        """One page of entries, newest first: `{items, next_cursor}`."""
        page: dict[str, Any] = await self._api.get(
            caller, f"{API}/audit", params=filters.query_params()
        )
        return page

    async def export(self, caller: Caller, filters: AuditFilters) -> Download:
        """Every matching entry as CSV, as the API streams it."""
        return await self._api.download(
            caller, f"{API}/audit/export", params={**filters.api_filters(), "format": "csv"}
        )


class TenantPolicies:
    """The contact policy (campaigns) and the retention of consent (candidates)."""

    def __init__(self, api: GatewayApi) -> None:
        self._api = api

    async def contact_policy(self, caller: Caller) -> dict[str, Any]:
        """The policy and how often it held messages back (`outcomes`)."""
        policy: dict[str, Any] = await self._api.get(caller, f"{API}/settings/contact-policy")
        return policy

    async def set_contact_policy(self, caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
        policy: dict[str, Any] = await self._api.send(
            caller, "PUT", f"{API}/settings/contact-policy", body
        )
        return policy

    async def inbound_mail(self, caller: Caller) -> dict[str, str]:
        """The URLs a mail provider reports bounces, complaints and replies to (admins)."""
        urls: dict[str, str] = await self._api.get(caller, f"{API}/settings/inbound-mail")
        return urls

    async def retention(self, caller: Caller) -> dict[str, Any]:
        policy: dict[str, Any] = await self._api.get(caller, f"{API}/settings/retention")
        return policy

    async def set_retention(self, caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
        policy: dict[str, Any] = await self._api.send(
            caller, "PUT", f"{API}/settings/retention", body
        )
        return policy


class AtsConnections:
    """The tenant's links to applicant tracking systems (ats-sync API)."""

    def __init__(self, api: GatewayApi) -> None:
        self._api = api

    async def connections(self, caller: Caller) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = await self._api.get(caller, f"{API}/ats/connections")
        return found

    async def connect(
        self, caller: Caller, provider: str, name: str, *, api_key: str, api_base_url: str
    ) -> dict[str, Any]:
        """The new connection with its webhook secret: the only time anyone sees it. An empty
        API key or address is left out (webhooks only; the provider's public API)."""
        body = {"provider": provider, "name": name}
        body |= {"api_key": api_key} if api_key else {}
        body |= {"api_base_url": api_base_url} if api_base_url else {}
        created: dict[str, Any] = await self._api.send(
            caller, "POST", f"{API}/ats/connections", body
        )
        return created

    async def rotate_secret(self, caller: Caller, connection_id: str) -> dict[str, Any]:
        """A new webhook secret; the previous one stays valid for a day (the API's default)."""
        rotated: dict[str, Any] = await self._api.send(
            caller, "POST", f"{API}/ats/connections/{connection_id}/rotate-secret", {}
        )
        return rotated

    async def disconnect(self, caller: Caller, connection_id: str) -> None:
        await self._api.send(caller, "DELETE", f"{API}/ats/connections/{connection_id}")

    async def connection(self, caller: Caller, connection_id: str) -> dict[str, Any]:
        """One connection with its health (webhooks received and refused, the API's breaker)."""
        found: dict[str, Any] = await self._api.get(
            caller, f"{API}/ats/connections/{connection_id}"
        )
        return found

    async def sync_status(self, caller: Caller, connection_id: str) -> dict[str, Any]:
        """The connection's last backfill and reconciliation: `{backfill, reconcile}`."""
        found: dict[str, Any] = await self._api.get(
            caller, f"{API}/ats/connections/{connection_id}/sync"
        )
        return found

    async def rejected_payloads(
        self, caller: Caller, connection_id: str, cursor: str | None
    ) -> dict[str, Any]:
        """One page (ten, newest first) of what the ATS sent that could not be mapped or
        stored: `{items, next_cursor}`, the cursor read from the API's `Link` header."""
        response = await self._api.request(
            caller,
            "GET",
            f"{API}/ats/connections/{connection_id}/rejected-payloads",
            params={"limit": REJECTED_PAGE, "cursor": cursor},
        )
        return {"items": response.json(), "next_cursor": _next_cursor(response)}

    async def applications(
        self, caller: Caller, connection_id: str, status: str | None, cursor: str | None
    ) -> dict[str, Any]:
        """One page of the applications the connection's ATS reported (in `status`, if given),
        in the order the CRM first heard of them, each with its job as a profile names it
        (`job`; `GET /ats/jobs` is read once only when a job is named by id alone):
        `{items, next_cursor}`."""
        response = await self._api.request(
            caller,
            "GET",
            f"{API}/ats/applications",
            params={
                "connection_id": connection_id,
                "status": status,
                "limit": APPLICATIONS_PAGE,
                "cursor": cursor,
            },
        )
        found: list[dict[str, Any]] = response.json()
        names = job_names(found)
        if unnamed_jobs(found, names):
            jobs = await part(
                self._api.get(caller, f"{API}/ats/jobs", {"connection_id": connection_id})
            )
            names = job_names(found, items(jobs.data))
        return {
            "items": [{**found_one, "job": shown_job(found_one, names)} for found_one in found],
            "next_cursor": _next_cursor(response),
        }

    async def start_sync(self, caller: Caller, connection_id: str, kind: str) -> dict[str, Any]:
        """Starts a `backfill` or a `reconcile` run; the API refuses one while another runs."""
        started: dict[str, Any] = await self._api.send(
            caller, "POST", f"{API}/ats/connections/{connection_id}/{kind}"
        )
        return started

    async def set_ats_issued_secrets(
        self, caller: Caller, connection_id: str, secrets: list[str], grace_hours: int
    ) -> dict[str, Any]:
        """Sets the signature tokens the ATS issued (Lever); `[]` goes back to the
        connection's own secret. The ones set before stay valid for `grace_hours`."""
        changed: dict[str, Any] = await self._api.send(
            caller,
            "PUT",
            f"{API}/ats/connections/{connection_id}/webhook-secrets",
            {"secrets": secrets, "grace_hours": grace_hours},
        )
        return changed

    async def replace_api_key(
        self, caller: Caller, connection_id: str, api_key: str, api_base_url: str
    ) -> dict[str, Any]:
        """Sets the connection's API key (never shown again) and address (empty: the
        provider's public API)."""
        replaced: dict[str, Any] = await self._api.send(
            caller,
            "PUT",
            f"{API}/ats/connections/{connection_id}/api-key",
            {"api_key": api_key, "api_base_url": api_base_url or None},
        )
        return replaced


class SuppressionList:
    """The tenant's suppression list (campaigns API); addresses are kept only as hashes."""

    def __init__(self, api: GatewayApi) -> None:
        self._api = api

    async def page(self, caller: Caller, filters: SuppressionFilters) -> dict[str, Any]:
        """One page, oldest first: `{items, next_cursor}`."""
        found: dict[str, Any] = await self._api.get(
            caller, f"{API}/suppressions", params=filters.query_params()
        )
        return found

    async def add(self, caller: Caller, email: str, reason: str, note: str) -> dict[str, Any]:
        added: dict[str, Any] = await self._api.send(
            caller,
            "POST",
            f"{API}/suppressions",
            {"email": email, "reason": reason, "note": note or None},
        )
        return added

    async def lift(self, caller: Caller, suppression_id: str) -> None:
        await self._api.send(caller, "DELETE", f"{API}/suppressions/{suppression_id}")

    async def export(
        self, caller: Caller, filters: SuppressionFilters, csv: dict[str, str]
    ) -> Download:
        """The filtered list as the API's CSV file (`csv`: its separator)."""
        params = {k: v for k, v in filters.export_params().items() if v is not None}
        return await self._api.download(caller, f"{API}/suppressions.csv", params={**params, **csv})


class SignInSettings:
    """The tenant's identity provider (the operator's) and admission rules (the admin's)."""

    def __init__(self, api: GatewayApi) -> None:
        self._api = api

    async def read(self, caller: Caller) -> dict[str, Any]:
        found: dict[str, Any] = await self._api.get(caller, f"{API}/sign-in-settings")
        return found

    async def roles_from_token(self, caller: Caller) -> bool:
        """Whether members' roles come from the identity provider's tokens (then the API
        refuses role changes with a 409, and the Users page offers none). Unreadable settings
        count as no: the page then offers the control, and the API's refusal shows in the row."""
        try:
            found = await self.read(caller)
        except ApiProblem:
            return False
        return bool(found.get("roles_from_token"))

    async def set_admission(self, caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
        saved: dict[str, Any] = await self._api.send(
            caller, "PUT", f"{API}/sign-in-settings/admission", body
        )
        return saved


class EmbeddingSites:
    """The sites that may frame the tenant's embeddable event forms (events API)."""

    def __init__(self, api: GatewayApi) -> None:
        self._api = api

    async def settings(self, caller: Caller) -> dict[str, Any]:
        found: dict[str, Any] = await self._api.get(caller, f"{API}/settings/event-embedding")
        return found

    async def replace(self, caller: Caller, origins: list[str]) -> dict[str, Any]:
        stored: dict[str, Any] = await self._api.send(
            caller, "PUT", f"{API}/settings/event-embedding", {"site_origins": origins}
        )
        return stored


def _next_cursor(response: httpx.Response) -> str | None:
    """The cursor of the next page, from the API's `Link` header (`rel="next"`), if any."""
    following = response.links.get("next", {}).get("url", "")
    return parse_qs(urlsplit(following).query).get("cursor", [None])[0]
