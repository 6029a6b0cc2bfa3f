"""Versioned migrations of a service's database: each runs once, ever, and is recorded.

A service declares its migrations as a list of `Migration(version, name, apply)` and runs them
at start-up (`run_migrations`, a start-up hook). Each applied migration is recorded in the
database's `migrations` collection as `{_id: version, name, applied_at}`; a later start finds it
there and skips it, so a backfill scans the data once instead of at every start of every
replica. Replicas starting together take turns through a named lease (`crm_shared.leases`): one
applies what is pending while the others wait, then finds nothing left to do.

A migration must be safe to run again after a crash part-way (it is recorded only once it
returned): an `update_many` guarded by the state it changes (`{"version": {"$exists": False}}`)
is the usual shape. One whose work leaves no such mark (events staged in the outbox) keeps where
it got to in `MigrationProgress`, saved in each batch's transaction, and resumes from there.

A migration that needs more than the database (the client for transactions, the outbox, a key
ring) closes over it: the service builds its list with them (`migrations(mongo, outbox)`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pymongo.errors import PyMongoError

from crm_shared.contracts.envelope import utc_now
from crm_shared.leases import NamedLease
from crm_shared.mongo import Database, Session
from crm_shared.worker import cancel_within

MIGRATIONS_COLLECTION = "migrations"
# Where long migrations keep how far they got, by version (not in `migrations`, whose every
# record means "applied").
MIGRATION_PROGRESS_COLLECTION = "migration_progress"
MIGRATIONS_LEASE = "migrations"

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Migration:
    """One change to a service's stored data; `version` orders them and never changes."""

    version: int
    name: str
    apply: Callable[[Database], Awaitable[None]]


class MigrationProgress:
    """How far one migration's walk got: the last key it finished, saved in the transaction of
    the batch it finished, so a run stopped part-way (a crash, a lost lease) resumes after the
    last batch it committed instead of doing that work again."""

    def __init__(self, database: Database, version: int) -> None:
        self._progress = database[MIGRATION_PROGRESS_COLLECTION]
        self._version = version

    async def after(self) -> Any | None:
        """The last key finished, None before the first batch."""
        document = await self._progress.find_one({"_id": self._version})
        return None if document is None else document["after"]

    async def save(self, after: Any, *, session: Session) -> None:
        await self._progress.update_one(
            {"_id": self._version},
            {"$set": {"after": after, "saved_at": utc_now()}},
            upsert=True,
            session=session,
        )


class MigrationHistoryError(RuntimeError):
    """The declared migrations disagree with the ones recorded as applied."""


def _checked(migrations: Sequence[Migration]) -> list[Migration]:
    ordered = sorted(migrations, key=lambda migration: migration.version)
    versions = [migration.version for migration in ordered]
    if len(set(versions)) != len(versions):
        raise ValueError(f"two migrations share a version: {versions}")
    if versions and versions[0] < 1:
        raise ValueError("migration versions start at 1")
    return ordered


async def applied_migrations(database: Database) -> dict[int, str]:
    """The versions recorded as applied, with their names."""
    records = await database[MIGRATIONS_COLLECTION].find({}, {"name": 1}).to_list()
    return {int(record["_id"]): str(record["name"]) for record in records}


async def run_migrations(
    database: Database,
    migrations: Sequence[Migration],
    *,
    lease: timedelta = timedelta(seconds=60),
    poll_seconds: float = 0.5,
    owner: str | None = None,
) -> list[int]:
    """Applies the migrations not yet recorded in `database`, in version order; returns the
    versions this call applied (none when another replica did them).

    While another replica holds the migrations lease, waits for it (polling every
    `poll_seconds`); a replica that died holding it is taken over once its lease expires.
    The lease is renewed every third of `lease` while a migration runs, so a migration may
    take as long as it needs (a backfill of a million records) without another replica
    starting it too.
    """
    ordered = _checked(migrations)
    if not ordered:
        return []
    owner = owner or f"migrations-{uuid.uuid4().hex[:12]}"
    turn = NamedLease(database, MIGRATIONS_LEASE, owner=owner, lease=lease)
    # Another replica is migrating: its lease ends when it is done, or expires if it died.
    while True:
        if await turn.claim():
            break
        await asyncio.sleep(poll_seconds)
    applied: list[int] = []
    try:
        recorded = await applied_migrations(database)
        for migration in ordered:
            if migration.version in recorded:
                if recorded[migration.version] != migration.name:
                    raise MigrationHistoryError(
                        f"migration {migration.version} is recorded as "
                        f"{recorded[migration.version]!r}, declared as {migration.name!r}"
                    )
                continue
            if not await turn.renew():
                raise MigrationHistoryError(
                    f"lost the migrations lease before migration {migration.version} "
                    "(a migration outlasted the lease)"
                )
            logger.info("applying migration %d %s", migration.version, migration.name)
            await _apply_holding(turn, migration, database)
            await database[MIGRATIONS_COLLECTION].insert_one(
                {"_id": migration.version, "name": migration.name, "applied_at": utc_now()}
            )
            applied.append(migration.version)
    finally:
        await turn.release()
    return applied


async def _apply_holding(turn: NamedLease, migration: Migration, database: Database) -> None:
    """Runs one migration, renewing the lease while it runs; should the lease be lost (the
    database unreachable longer than the lease), the migration is cancelled rather than run
    beside the replica that took the lease over."""
    applying = asyncio.ensure_future(migration.apply(database))
    try:
        while True:
            done, _ = await asyncio.wait({applying}, timeout=turn.lease.total_seconds() / 3)
            if done:
                applying.result()
                return
            if not await turn.renew():
                raise MigrationHistoryError(
                    f"lost the migrations lease while migration {migration.version} ran"
                )
    finally:
        if not applying.done():
            applying.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await applying


class MigrationsInBackground:
    """Runs a service's migrations in a background task, retrying while the database cannot
    be reached: for a service that starts and serves without its database (the gateway),
    whose migrations wait for the database instead of holding up the start.

    A failure other than the database being unreachable (a migration's own error, a history
    that disagrees) is logged as an error and not retried: the next start tries again."""

    def __init__(
        self,
        database: Database,
        migrations: Sequence[Migration],
        *,
        first_retry_seconds: float = 1.0,
        longest_retry_seconds: float = 30.0,
    ) -> None:
        self._database = database
        self._migrations = _checked(migrations)
        self._first_retry = first_retry_seconds
        self._longest_retry = longest_retry_seconds
        self._task: asyncio.Task[list[int]] | None = None
        self._stopping = False

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="migrations")

    async def finished(self) -> list[int]:
        """Waits for the migrations; the versions applied (raises what stopped them)."""
        if self._task is None:
            raise RuntimeError("the migrations were not started")
        return await self._task

    async def stop(self) -> None:
        # The flag as well as the cancel: PyMongo's `asyncio.wait_for` (Python 3.11) can swallow
        # a cancel, and the loop would go on retrying while the shutdown waits on it.
        self._stopping = True
        if self._task is not None and not self._task.done():
            await cancel_within([self._task], 5, "migrations")

    async def _run(self) -> list[int]:
        delay = self._first_retry
        while True:
            try:
                return await run_migrations(self._database, self._migrations)
            except PyMongoError as error:
                if self._stopping:
                    raise asyncio.CancelledError from error
                logger.warning(
                    "migrations wait for the database (retry in %.0f s): %r", delay, error
                )
            except Exception:
                logger.exception("migrations failed; they are tried again at the next start")
                raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._longest_retry)


def migrations_hook(
    database: Database, migrations: Sequence[Migration]
) -> Callable[[], Awaitable[None]]:
    """A start-up hook (`Platform.startup_hooks`) that runs the service's migrations."""
    _checked(migrations)  # a bad declaration fails when the app is built, not at its start

    async def migrate() -> None:
        await run_migrations(database, migrations)

    return migrate
