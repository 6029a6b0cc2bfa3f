"""One ATS account, one connection, against SecantusDB: a second connection to an account the
tenant has connected is refused naming the first."""

from __future__ import annotations

import pytest

from crm_ats_sync.application import connections
from crm_ats_sync.application.storage import AtsStorage
from crm_ats_sync.domain.models import Connection, Provider
from helpers import unique

pytestmark = pytest.mark.integration

HARVEST = "https://harvest.greenhouse.io/v3"


async def connect(
    storage: AtsStorage,
    tenant_id: str,
    provider: Provider = Provider.GREENHOUSE,
    *,
    api_key: str | None,
    api_base_url: str | None = None,
    name: str = "ATS",
) -> Connection:
    return await connections.create_connection(
        storage,
        tenant_id,
        "admin-1",
        provider,
        name,
        api_key=api_key,
        api_base_url=api_base_url,
    )


async def test_a_second_connection_to_the_same_account_is_refused_naming_the_first(
    storage: AtsStorage,
) -> None:
    tenant = unique("tenant")
    first = await connect(
        storage, tenant, api_key="client-a:secret-1", api_base_url=HARVEST, name="Greenhouse"
    )
    # The same client id, another secret, the default base URL spelt out or left out.
    for api_key, api_base_url in (("client-a:secret-2", None), ("client-a:secret-1", HARVEST)):
        with pytest.raises(connections.AccountAlreadyConnected) as refused:
            await connect(storage, tenant, api_key=api_key, api_base_url=api_base_url)
        assert refused.value.existing.id == first.id
        assert first.id in str(refused.value)
        assert "'Greenhouse'" in str(refused.value)

    # Another account, another tenant, and connections without an API key are not refused.
    other = await connect(storage, tenant, api_key="client-b:secret-1")
    await connect(storage, unique("tenant"), api_key="client-a:secret-1")
    await connect(storage, tenant, api_key=None)
    await connect(storage, tenant, api_key=None)
    # Nor can a key replacement point one connection at the other's account.
    with pytest.raises(connections.AccountAlreadyConnected):
        await connections.replace_api_key(storage, tenant, other.id, "client-a:secret-9", None)
    await connections.replace_api_key(storage, tenant, other.id, "client-b:secret-2", None)

    # Workable: the account is its subdomain, whatever token reaches it; Lever: the key.
    workable = "https://acme.workable.com/spi/v3"
    await connect(storage, tenant, Provider.WORKABLE, api_key="token-1", api_base_url=workable)
    with pytest.raises(connections.AccountAlreadyConnected):
        await connect(storage, tenant, Provider.WORKABLE, api_key="token-2", api_base_url=workable)
    await connect(storage, tenant, Provider.LEVER, api_key="lever-key-1")
    with pytest.raises(connections.AccountAlreadyConnected):
        await connect(storage, tenant, Provider.LEVER, api_key="lever-key-1")

    # Once the first is deleted, the account can be connected again.
    await connections.delete_connection(storage, tenant, first.id)
    await connect(storage, tenant, api_key="client-a:secret-3")
