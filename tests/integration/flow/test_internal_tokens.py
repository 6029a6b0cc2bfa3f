"""Every service behind the gateway, called directly: only a token the gateway signed for that
service, still valid, gets in; everything else is a 401 problem."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from crm_shared import Principal
from integration.flow.conftest import Stack
from internal_keys import forged_internal_tokens, internal_bearer

pytestmark = pytest.mark.integration

SERVICES = ("candidates", "campaigns", "events", "ats-sync", "analytics")


def protected_list_path(document: dict[str, Any]) -> str:
    """A GET operation of the service's OpenAPI document that takes no path parameter and
    declares a 401 (it needs a caller)."""
    for path, operations in document["paths"].items():
        operation = operations.get("get")
        if "{" not in path and operation and "401" in operation.get("responses", {}):
            return str(path)
    raise AssertionError("the service publishes no authenticated GET without parameters")


@pytest.mark.parametrize("service", SERVICES)
async def test_a_service_accepts_only_tokens_the_gateway_signed_for_it(
    stack: Stack, service: str
) -> None:
    admin = Principal(tenant_id=stack.acme, user_id="ada", roles=frozenset({"admin"}))
    async with httpx.AsyncClient(base_url=stack.urls[service], timeout=30) as client:
        path = protected_list_path((await client.get("/openapi.json")).json())
        accepted = await client.get(path, headers=internal_bearer(admin, service))
        assert accepted.status_code == 200, (path, accepted.text)

        statuses = {"no token": (await client.get(path)).status_code}
        for forgery, token in forged_internal_tokens(admin, service).items():
            response = await client.get(path, headers={"Authorization": f"Bearer {token}"})
            statuses[forgery] = response.status_code
            if response.status_code == 401:
                assert response.headers["content-type"] == "application/problem+json"
    assert statuses == dict.fromkeys(statuses, 401), (service, path)
    assert len(statuses) == 6
