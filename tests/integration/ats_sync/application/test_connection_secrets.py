"""ATS connection secrets and health against SecantusDB: the stored document holds no
plaintext, a connection stored before encryption is sealed by the migration, a new master key
rewraps every data key, refusals show in the health view, and the breaker's state is stored."""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest

from crm_ats_sync.adapters.greenhouse import GreenhouseWebhooks
from crm_ats_sync.application import connections
from crm_ats_sync.application.breaker import CircuitBreaker, CircuitOpenError
from crm_ats_sync.application.health import connection_health
from crm_ats_sync.application.ports import AtsUnavailableError
from crm_ats_sync.application.storage import AtsStorage
from crm_ats_sync.application.webhooks import receive_webhook
from crm_ats_sync.domain.breaker import BreakerPolicy, BreakerState
from crm_ats_sync.domain.changes import WebhookRejectedError
from crm_ats_sync.domain.greenhouse import sign
from crm_ats_sync.domain.models import Connection, Provider
from crm_ats_sync.migrations import migrations
from crm_ats_sync.repositories.connections import CONNECTIONS, rewrap_connection_keys
from crm_devstack.greenhouse import new_candidate_application
from crm_shared import KeyRing, run_migrations, utc_now
from helpers import unique

pytestmark = pytest.mark.integration

OLD_KEY = secrets.token_urlsafe(32)


def ring(text: str) -> KeyRing:
    return KeyRing.parse(text, setting="ATS_SECRET_KEYS")


@pytest.fixture
def secret_keys() -> str:
    return f"old:{OLD_KEY}"


async def _connected(
    storage: AtsStorage, api_key: str | None = "harvest-client:secret-1"
) -> Connection:
    return await connections.create_connection(
        storage,
        unique("tenant"),
        "admin-1",
        Provider.GREENHOUSE,
        "Greenhouse",
        api_key=api_key,
        api_base_url="https://harvest.greenhouse.io/v3",
    )


async def _stored(storage: AtsStorage, connection_id: str) -> dict[str, object]:
    document = await storage.database[CONNECTIONS].find_one({"_id": connection_id})
    assert document is not None
    return dict(document)


async def test_the_stored_document_holds_no_plaintext_secret(storage: AtsStorage) -> None:
    connection = await _connected(storage)
    rotated = await connections.rotate_connection_secret(
        storage, connection.tenant_id, connection.id, grace_hours=1
    )
    document = await _stored(storage, connection.id)
    for plaintext in (rotated.webhook_secret, connection.webhook_secret, "harvest-client:secret-1"):
        assert plaintext.encode() not in repr(document).encode()
        assert plaintext not in str(document)
    assert not {"webhook_secret", "previous_webhook_secret", "api_key"} & document.keys()
    assert document["secrets"]["key_id"] == "old"  # type: ignore[index]

    loaded = await connections.find_connection(storage, connection.tenant_id, connection.id)
    assert loaded.webhook_secret == rotated.webhook_secret
    assert loaded.previous_webhook_secret == connection.webhook_secret
    assert loaded.api_key == "harvest-client:secret-1"
    assert "harvest-client:secret-1" not in repr(loaded)


async def test_replacing_the_api_key_stores_it_sealed(storage: AtsStorage) -> None:
    connection = await _connected(storage, api_key=None)
    replaced = await connections.replace_api_key(
        storage, connection.tenant_id, connection.id, "harvest-client:secret-2", None
    )
    assert replaced.api_key == "harvest-client:secret-2"
    assert replaced.api_base_url is None
    assert replaced.webhook_secret == connection.webhook_secret
    assert "harvest-client:secret-2" not in str(await _stored(storage, connection.id))
    with pytest.raises(connections.ConnectionNotFound):
        await connections.replace_api_key(storage, connection.tenant_id, unique("c"), "k", None)


async def test_ats_issued_secrets_are_stored_sealed_and_erased_with_the_connection(
    storage: AtsStorage,
) -> None:
    tenant_id = unique("tenant")
    connection = await connections.create_connection(
        storage, tenant_id, "admin-1", Provider.LEVER, "Lever"
    )
    tokens = [f"lever-token-{n}-{secrets.token_hex(8)}" for n in range(5)]
    given = await connections.set_ats_webhook_secrets(
        storage, tenant_id, connection.id, [*tokens, tokens[0]], grace_hours=24
    )
    assert given.ats_webhook_secrets == tuple(tokens)  # in order, once each
    assert given.previous_ats_secrets_until is None  # nothing was replaced
    replaced = await connections.set_ats_webhook_secrets(
        storage, tenant_id, connection.id, ["lever-token-new"], grace_hours=24
    )
    assert replaced.previous_ats_webhook_secrets == tuple(tokens)
    assert replaced.previous_ats_secrets_until is not None
    document = await _stored(storage, connection.id)
    for plaintext in [*tokens, "lever-token-new"]:
        assert plaintext not in str(document)
    assert not {"ats_webhook_secrets", "previous_ats_webhook_secrets"} & document.keys()

    # A replacement based on what was loaded before a concurrent one is refused.
    repository = storage.connections(tenant_id)
    assert not await repository.replace_ats_webhook_secrets(given, ["late"], None)
    current = await connections.find_connection(storage, tenant_id, connection.id)
    assert current.ats_webhook_secrets == ("lever-token-new",)

    await connections.delete_connection(storage, tenant_id, connection.id)
    erased = (await _stored(storage, connection.id))["secrets"]
    assert erased["ats_webhook_secrets"] is None  # type: ignore[index]
    assert erased["previous_ats_webhook_secrets"] is None  # type: ignore[index]


async def test_only_lever_takes_secrets_it_issued(storage: AtsStorage) -> None:
    connection = await _connected(storage)
    with pytest.raises(connections.SecretsNotIssuedByAts):
        await connections.set_ats_webhook_secrets(
            storage, connection.tenant_id, connection.id, ["a token"], grace_hours=0
        )


async def test_the_migration_seals_connections_stored_in_the_clear(storage: AtsStorage) -> None:
    tenant_id = unique("tenant")
    await storage.database[CONNECTIONS].insert_one(
        {
            "_id": "legacy-1",
            "tenant_id": tenant_id,
            "provider": "greenhouse",
            "name": "From before",
            "webhook_secret": "plain-webhook-secret",
            "previous_webhook_secret": None,
            "api_key": "plain-api-key",
            "api_base_url": None,
            "created_by": "admin-1",
            "created_at": utc_now(),
            "deleted_at": None,
        }
    )
    await run_migrations(storage.database, migrations(storage.keyring))
    document = await _stored(storage, "legacy-1")
    assert "plain-webhook-secret" not in str(document)
    assert "plain-api-key" not in str(document)
    loaded = await connections.find_connection(storage, tenant_id, "legacy-1")
    assert (loaded.webhook_secret, loaded.api_key) == ("plain-webhook-secret", "plain-api-key")
    # Recorded: a second start does not run it again.
    assert await run_migrations(storage.database, migrations(storage.keyring)) == []


async def test_a_new_master_key_rewraps_every_data_key(storage: AtsStorage) -> None:
    first, second = await _connected(storage), await _connected(storage)
    new_key = secrets.token_urlsafe(32)
    rotated = ring(f"new:{new_key},old:{OLD_KEY}")
    assert await rewrap_connection_keys(storage.database, rotated) == 2
    assert await rewrap_connection_keys(storage.database, rotated) == 0

    new_only = AtsStorage(
        mongo=storage.mongo,
        database=storage.database,
        outbox=storage.outbox,
        keyring=ring(f"new:{new_key}"),
    )
    for connection in (first, second):
        assert (await _stored(storage, connection.id))["secrets"]["key_id"] == "new"  # type: ignore[index]
        loaded = await connections.find_connection(new_only, connection.tenant_id, connection.id)
        assert loaded.webhook_secret == connection.webhook_secret
        assert loaded.api_key == "harvest-client:secret-1"


async def test_refused_and_accepted_webhooks_show_in_the_health_view(
    storage: AtsStorage,
) -> None:
    connection = await _connected(storage)
    body = new_candidate_application(
        application_id=11,
        candidate_id=22,
        email="ada@example.org",
        first_name="Ada",
        last_name="Lovelace",
        job_name="Platform Engineer",
    )

    async def deliver(signature: str, delivery_id: str, payload: bytes = body) -> str:
        receipt, _ = await receive_webhook(
            storage,
            Provider.GREENHOUSE,
            GreenhouseWebhooks(),
            connection.id,
            {"signature": signature, "greenhouse-event-id": delivery_id},
            payload,
        )
        return receipt

    breaker = CircuitBreaker(storage.breakers)
    empty = await connection_health(storage, breaker, connection)
    assert empty.webhooks.last_received_at is None
    assert empty.breaker_state is BreakerState.CLOSED

    assert await deliver(sign(connection.webhook_secret, body), "d-1") == "accepted"
    assert await deliver(sign(connection.webhook_secret, body), "d-1") == "duplicate"
    with pytest.raises(WebhookRejectedError):
        await deliver("sha256 " + "0" * 64, "d-2")

    health = await connection_health(storage, breaker, connection)
    assert health.webhooks.last_refusal_reason == "bad_signature"
    assert health.webhooks.last_refused_at is not None
    assert health.webhooks.last_received_at == health.webhooks.last_refused_at
    assert health.webhooks.counts == {
        "accepted": 1,
        "duplicate": 1,
        "replayed": 0,
        "stale": 0,
        "not_read": 0,
        "gone": 0,
        "refused": 1,
    }


async def test_the_breaker_state_is_stored_per_connection(storage: AtsStorage) -> None:
    connection, other = await _connected(storage), await _connected(storage)
    # A cool-down no slow step of the test can outlast; "later" is a clock past it.
    policy = BreakerPolicy(failure_threshold=2, cool_down=timedelta(seconds=60))
    breaker = CircuitBreaker(storage.breakers, policy)
    calls = 0

    async def down() -> None:
        nonlocal calls
        calls += 1
        raise AtsUnavailableError("Harvest answered 503 after retries")

    for _ in range(2):
        with pytest.raises(AtsUnavailableError):
            await breaker.call(connection, down)
    with pytest.raises(CircuitOpenError):
        await breaker.call(connection, down)
    assert calls == 2

    # Another replica's breaker reads the same state.
    elsewhere = CircuitBreaker(storage.breakers, policy)
    health = await connection_health(storage, elsewhere, connection)
    assert health.breaker_state is BreakerState.OPEN
    assert health.breaker.last_error == "Harvest answered 503 after retries"
    assert health.breaker_retry_at is not None
    assert (await elsewhere.state(other))[0] is BreakerState.CLOSED

    async def up() -> str:
        return "ok"

    later = CircuitBreaker(
        storage.breakers, policy, clock=lambda: utc_now() + timedelta(seconds=61)
    )
    assert await later.call(connection, up) == "ok"
    state, record = await later.state(connection)
    assert state is BreakerState.CLOSED
    assert record.consecutive_failures == 0
