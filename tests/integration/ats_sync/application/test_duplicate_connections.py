"""One ATS account, one connection, each application once, against SecantusDB: a second
connection to an account the tenant has connected is refused naming the first; an application
reported through two connections to one ATS is stored (and announced) once; and the migration
removes the copies stored before and makes applications unique per ATS."""

from __future__ import annotations

import pytest
from ats_fake import FakeAts
from pymongo.errors import DuplicateKeyError

from crm_ats_sync.application import connections
from crm_ats_sync.application.snapshots import SnapshotOutcome, apply_snapshot
from crm_ats_sync.application.storage import AtsStorage
from crm_ats_sync.domain.models import Connection, Provider
from crm_ats_sync.migrations import migrations
from crm_ats_sync.repositories.applications import APPLICATIONS
from crm_shared import ATS_APPLICATION_CREATED, run_migrations, utc_now
from helpers import unique
from integration.ats_sync.support import staged

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


async def test_an_application_reported_through_two_connections_is_stored_once(
    storage: AtsStorage,
) -> None:
    tenant = unique("tenant")
    first = await connect(storage, tenant, Provider.LEVER, api_key="lever-key")
    # A second connection to the account, as stored before they were refused.
    second = first.model_copy(update={"id": unique("conn"), "account": None})
    snapshot = FakeAts().add(
        "a-1003603", email="ada@example.org", stage="Phone Screen", at=utc_now()
    )

    async def apply(connection: Connection) -> SnapshotOutcome:
        return await storage.in_transaction(
            lambda session: apply_snapshot(
                storage, connection, snapshot, received_at=utc_now(), session=session
            )
        )

    outcomes = [await apply(first), await apply(second)]
    assert outcomes == [SnapshotOutcome.CREATED, SnapshotOutcome.UNCHANGED]
    (stored,) = await storage.applications(tenant).applications(candidate_id=None)
    assert stored.connection_id == first.id
    topics = [topic for topic, _ in await staged(storage, tenant)]
    assert topics == [ATS_APPLICATION_CREATED.name]


async def test_the_migration_removes_copies_and_makes_applications_unique_per_ats(
    storage: AtsStorage,
) -> None:
    tenant = unique("tenant")
    now = utc_now()

    def application(document_id: str, connection_id: str, ats_id: str) -> dict[str, object]:
        return {
            "_id": document_id,
            "tenant_id": tenant,
            "connection_id": connection_id,
            "provider": "greenhouse",
            "ats_application_id": ats_id,
            "ats_candidate_id": "p-1",
            "received_at": now,
        }

    await storage.database[APPLICATIONS].insert_many(
        [
            application("app-1", "conn-1", "1003603"),
            application("app-2", "conn-1", "1003604"),
            application("app-3", "conn-2", "1003603"),
        ]
    )
    await run_migrations(storage.database, migrations(storage.keyring))
    kept = await storage.database[APPLICATIONS].find({"tenant_id": tenant}).to_list()
    assert sorted(d["_id"] for d in kept) == ["app-1", "app-2"]
    with pytest.raises(DuplicateKeyError):
        await storage.database[APPLICATIONS].insert_one(application("app-4", "conn-3", "1003604"))
