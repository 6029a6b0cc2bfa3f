"""Use cases of ATS connections: admins connect an ATS account, rotate its webhook secret, set
the secrets the ATS issued, replace its API key and disconnect it."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from crm_ats_sync.application.storage import AtsStorage
from crm_ats_sync.domain import greenhouse
from crm_ats_sync.domain.addresses import ApiAddressPolicy
from crm_ats_sync.domain.jobs import closed_with_connection_at
from crm_ats_sync.domain.models import (
    ATS_ISSUED_WEBHOOK_SECRETS,
    MAX_ATS_WEBHOOK_SECRETS,
    REQUIRED_CONNECTION_SETTINGS,
    Connection,
    Provider,
)
from crm_ats_sync.publishers import to_job_changed
from crm_shared import Session, utc_now


class ConnectionNotFound(LookupError):
    """No connection with this id in the tenant (or it was deleted)."""


class MissingConnectionSetting(ValueError):
    """The ATS cannot be connected without these settings (`fields`, by name)."""

    def __init__(self, provider: Provider, fields: list[str]) -> None:
        super().__init__(f"a {provider.value} connection needs {', '.join(fields)}")
        self.provider = provider
        self.fields = fields


class RefusedApiAddress(ValueError):
    """The API address names a host the service may not send the API key to."""


class InvalidConnectionSetting(ValueError):
    """A setting given is not in the form the ATS needs (`field`, by name)."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(detail)
        self.field = field


class SecretsNotIssuedByAts(ValueError):
    """The connection's ATS does not issue the secrets it signs webhooks with."""

    def __init__(self, provider: Provider) -> None:
        how = {
            Provider.GREENHOUSE: "it signs with the secret the CRM issues (rotate-secret)",
            Provider.WORKABLE: "it signs with the account's access token (the API key)",
        }.get(provider, "it signs with the secret the CRM issues")
        super().__init__(f"{provider.value} issues no webhook secrets: {how}")
        self.provider = provider


class AccountAlreadyConnected(Exception):
    """The tenant has a live connection to the same ATS account (`existing`)."""

    def __init__(self, existing: Connection) -> None:
        super().__init__(
            f"this {existing.provider.value} account is already connected as "
            f"{existing.name!r} (connection {existing.id}); a second connection would report "
            "every application twice: use or delete that one"
        )
        self.existing = existing


# Where each ATS's API answers when a connection names no base URL (the adapters' defaults):
# a connection naming it explicitly reaches the same account.
DEFAULT_API_BASE_URLS = {
    Provider.GREENHOUSE: "https://harvest.greenhouse.io/v3",
    Provider.LEVER: "https://api.lever.co/v1",
}


def account_of(provider: Provider, api_key: str | None, api_base_url: str | None) -> str | None:
    """A digest naming the ATS account the API credentials reach, or None without a key
    (a webhooks-only connection names no account). Greenhouse: the API base URL and the OAuth
    client id; Workable: the API base URL, the account's own subdomain; Lever, whose key is the
    only thing naming the account: the base URL and the key."""
    if not api_key:
        return None
    base = (api_base_url or DEFAULT_API_BASE_URLS.get(provider, "")).rstrip("/").lower()
    if provider is Provider.GREENHOUSE:
        who = greenhouse.client_credentials(api_key)[0]
    elif provider is Provider.WORKABLE:
        who = ""
    else:
        who = api_key
    # A digest: the Lever key must not be stored in the clear (it is sealed elsewhere).
    return hashlib.sha256(f"{provider.value}\n{base}\n{who}".encode()).hexdigest()


async def _refuse_second_connection(
    storage: AtsStorage, tenant_id: str, account: str | None, connection_id: str | None = None
) -> None:
    if account is None:
        return
    existing = await storage.connections(tenant_id).connection_to_account(account)
    if existing is not None and existing.id != connection_id:
        raise AccountAlreadyConnected(existing)


class ConnectionChanged(Exception):
    """The connection changed (or was deleted) while its secret was being rotated."""


def _check_api_settings(
    provider: Provider,
    api_key: str | None,
    api_base_url: str | None,
    address_policy: ApiAddressPolicy,
) -> None:
    """`MissingConnectionSetting`, `InvalidConnectionSetting` or `RefusedApiAddress` unless
    the API may be used so."""
    given = {"api_key": api_key, "api_base_url": api_base_url}
    missing = [f for f in REQUIRED_CONNECTION_SETTINGS.get(provider, ()) if not given.get(f)]
    if missing:
        raise MissingConnectionSetting(provider, missing)
    if provider is Provider.GREENHOUSE and api_key is not None:
        try:
            greenhouse.client_credentials(api_key)
        except ValueError as error:
            raise InvalidConnectionSetting("api_key", str(error)) from None
    refusal = address_policy.refusal(api_base_url) if api_base_url else None
    if refusal:
        raise RefusedApiAddress(refusal)


async def create_connection(
    storage: AtsStorage,
    tenant_id: str,
    created_by: str,
    provider: Provider,
    name: str,
    *,
    api_key: str | None = None,
    api_base_url: str | None = None,
    address_policy: ApiAddressPolicy = ApiAddressPolicy(),
    ats_user_id: str | None = None,
) -> Connection:
    """Connects an ATS account with a new webhook secret and, given an API key, its API;
    `MissingConnectionSetting` when the ATS cannot work without a setting that is not given,
    `RefusedApiAddress` for an API address the key may not be sent to,
    `InvalidConnectionSetting` for a setting not in the ATS's form (a Greenhouse `api_key` is
    `<client id>:<client secret>`), `AccountAlreadyConnected` when a live connection of the
    tenant reaches the same ATS account."""
    _check_api_settings(provider, api_key, api_base_url, address_policy)
    account = account_of(provider, api_key, api_base_url)
    await _refuse_second_connection(storage, tenant_id, account)
    connection = Connection(
        tenant_id=tenant_id,
        provider=provider,
        name=name,
        webhook_secret=secrets.token_urlsafe(32),
        created_by=created_by,
        api_key=api_key,
        api_base_url=api_base_url,
        ats_user_id=ats_user_id,
        account=account,
    )
    await storage.connections(tenant_id).add_connection(connection)
    return connection


async def list_connections(storage: AtsStorage, tenant_id: str) -> list[Connection]:
    """The tenant's ATS connections that were not deleted."""
    return await storage.connections(tenant_id).connections()


async def find_connection(storage: AtsStorage, tenant_id: str, connection_id: str) -> Connection:
    """One connection; `ConnectionNotFound` if there is none (or it was deleted)."""
    connection = await storage.connections(tenant_id).connection(connection_id)
    if connection is None:
        raise ConnectionNotFound(connection_id)
    return connection


async def rotate_connection_secret(
    storage: AtsStorage, tenant_id: str, connection_id: str, grace_hours: int
) -> Connection:
    """Issues a new webhook secret, the previous one still accepted for `grace_hours`;
    `ConnectionChanged` if a concurrent change got there first."""
    connection = await find_connection(storage, tenant_id, connection_id)
    new_secret = secrets.token_urlsafe(32)
    previous_until = utc_now() + timedelta(hours=grace_hours)
    if not await storage.connections(tenant_id).rotate_secret(
        connection, new_secret, previous_until
    ):
        raise ConnectionChanged(connection_id)
    return await find_connection(storage, tenant_id, connection_id)


async def set_ats_webhook_secrets(
    storage: AtsStorage,
    tenant_id: str,
    connection_id: str,
    ats_secrets: list[str],
    grace_hours: int,
) -> Connection:
    """Sets the secrets the connection's ATS issued and signs its webhooks with (Lever: the
    signature token of each webhook event type); deliveries are then verified with any of them
    instead of the connection's own secret, and the ones they replace are still accepted for
    `grace_hours`. An empty list returns to the connection's own secret.

    `ConnectionNotFound`; `SecretsNotIssuedByAts` for an ATS that does not issue them;
    `InvalidConnectionSetting` (`secrets`) for more than `MAX_ATS_WEBHOOK_SECRETS`;
    `ConnectionChanged` if a concurrent change got there first."""
    connection = await find_connection(storage, tenant_id, connection_id)
    if connection.provider not in ATS_ISSUED_WEBHOOK_SECRETS:
        raise SecretsNotIssuedByAts(connection.provider)
    distinct = list(dict.fromkeys(ats_secrets))
    if len(distinct) > MAX_ATS_WEBHOOK_SECRETS:
        raise InvalidConnectionSetting(
            "secrets", f"at most {MAX_ATS_WEBHOOK_SECRETS} secrets (one per event type)"
        )
    previous_until = (
        utc_now() + timedelta(hours=grace_hours) if connection.ats_webhook_secrets else None
    )
    if not await storage.connections(tenant_id).replace_ats_webhook_secrets(
        connection, distinct, previous_until
    ):
        raise ConnectionChanged(connection_id)
    return await find_connection(storage, tenant_id, connection_id)


async def replace_api_key(
    storage: AtsStorage,
    tenant_id: str,
    connection_id: str,
    api_key: str,
    api_base_url: str | None,
    *,
    address_policy: ApiAddressPolicy = ApiAddressPolicy(),
) -> Connection:
    """Replaces the connection's API key and base URL (None: the provider's public API);
    `ConnectionNotFound` if there is none, and `MissingConnectionSetting` or
    `RefusedApiAddress` as when connecting."""
    connection = await find_connection(storage, tenant_id, connection_id)
    _check_api_settings(connection.provider, api_key, api_base_url, address_policy)
    account = account_of(connection.provider, api_key, api_base_url)
    await _refuse_second_connection(storage, tenant_id, account, connection_id)
    if not await storage.connections(tenant_id).replace_api_key(
        connection_id, api_key, api_base_url, account
    ):
        raise ConnectionNotFound(connection_id)
    return await find_connection(storage, tenant_id, connection_id)


async def delete_connection(storage: AtsStorage, tenant_id: str, connection_id: str) -> None:
    """Deletes a connection: its webhooks are refused from now on, and each of its jobs not
    closed yet is closed and announced so on `job.changed` (mails stop offering them), in the
    one transaction; `ConnectionNotFound` if there was none."""
    deleted_at = utc_now()

    async def delete(session: Session) -> int:
        connections = storage.connections(tenant_id)
        if not await connections.delete_connection(connection_id, deleted_at, session=session):
            raise ConnectionNotFound(connection_id)
        closed = await storage.jobs(tenant_id).close_connection_jobs(
            connection_id, deleted_at, session=session
        )
        for job in closed:
            await to_job_changed(
                storage.outbox,
                job,
                created=False,
                session=session,
                changed_at=closed_with_connection_at(job, deleted_at),
            )
        return len(closed)

    if await storage.in_transaction(delete):
        storage.outbox.notify_committed()
