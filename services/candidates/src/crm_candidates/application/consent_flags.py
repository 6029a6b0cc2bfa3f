"""Consent given or taken back on the profile reaches the ledger too.

`marketing_consent` may be set without the ledger endpoint: `POST`/`PATCH /candidates` and an
import's column of that name. Each such change is recorded as a ledger entry in the same
transaction (a grant on the basis `consent`, lasting the tenant's `consent_validity_days`, or a
withdrawal), with its `consent.changed`, so the expiry worker finds the grant by its
`next_check_at` like any other and it lapses like any other. A change the ledger already
records (the ledger endpoint moves the flag itself) adds nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from crm_candidates.domain.consent import (
    ConsentEntry,
    ConsentPurpose,
    ConsentSource,
    ConsentState,
    ConsentStatus,
    LawfulBasis,
    RetentionPolicy,
    backfilled_expiry,
    flag_change,
    next_check_at,
    state_after,
)
from crm_candidates.domain.models import Candidate
from crm_candidates.publishers import consent_changed_envelope
from crm_candidates.repositories.collections import CANDIDATES_COLLECTION
from crm_candidates.repositories.consents import (
    CONSENT_STATES,
    ConsentRepository,
    SettingsRepository,
)
from crm_shared import Database, Document, Outbox, Session, utc_now

logger = logging.getLogger(__name__)

# Who recorded a change when no person is known (a background job).
SYSTEM_USER = "system:candidates"


@dataclass(frozen=True)
class ConsentFlags:
    """Records the marketing flag changes of one tenant's profile writes in the ledger."""

    database: Database
    outbox: Outbox
    tenant_id: str
    source: ConsentSource = ConsentSource.PROFILE
    recorded_by: str | None = None

    async def record(
        self, changes: Sequence[tuple[bool, Candidate]], *, session: Session
    ) -> list[ConsentEntry]:
        """For each (flag before, candidate after) whose flag changed, the ledger entry the
        change needs; one read of the states and one write each of entries, states and events
        for all of them."""
        moved = [(was, c) for was, c in changes if was != c.marketing_consent]
        if not moved:
            return []
        consents = ConsentRepository(self.database, self.tenant_id)
        states = await consents.marketing_states([c.id for _, c in moved], session=session)
        policy = await SettingsRepository(self.database, self.tenant_id).retention(session=session)
        now = utc_now()
        entries: list[ConsentEntry] = []
        for was, candidate in moved:
            status = flag_change(was, candidate.marketing_consent, states.get(candidate.id))
            if status is None:
                continue
            granted = status is ConsentStatus.GRANTED
            entries.append(
                ConsentEntry(
                    tenant_id=self.tenant_id,
                    candidate_id=candidate.id,
                    purpose=ConsentPurpose.MARKETING,
                    status=status,
                    lawful_basis=LawfulBasis.CONSENT,
                    source=self.source,
                    recorded_at=now,
                    expires_at=policy.default_expiry(now) if granted else None,
                    recorded_by=self.recorded_by or candidate.created_by or SYSTEM_USER,
                )
            )
        if not entries:
            return []
        new_states = []
        for entry in entries:
            state = state_after(states.get(entry.candidate_id), entry)
            new_states.append(
                state.model_copy(update={"next_check_at": next_check_at(state, policy)})
            )
        await consents.append_many(entries, session=session)
        await consents.save_states(new_states, session=session)
        await self.outbox.add_many(
            [
                consent_changed_envelope(
                    self.outbox, entry, marketing_consent=entry.status is ConsentStatus.GRANTED
                )
                for entry in entries
            ],
            session=session,
        )
        return entries


BACKFILL_USER = "system:consent-backfill"


async def backfill_consent_expiry(database: Database, *, batch: int = 500) -> None:
    """Gives every consent that could never lapse its expiry (a migration; deliberately
    cross-tenant, each record keeping its tenant):

    - a candidate whose `marketing_consent` was set on the profile or by an import before those
      reached the ledger gets a marketing grant (source `backfill`), as granted when the record
      was created (the earliest it can have been);
    - a grant on the basis `consent` without an expiry gets one.

    Either expires `consent_validity_days` after it was granted, but not before the tenant's
    re-permission window from now (`backfilled_expiry`): the person is asked before it lapses.
    Safe to run again: a consent that has its expiry is not touched.
    """
    now = utc_now()
    policies: dict[str, RetentionPolicy] = {}

    async def policy_of(tenant_id: str) -> RetentionPolicy:
        if tenant_id not in policies:
            policies[tenant_id] = await SettingsRepository(database, tenant_id).retention()
        return policies[tenant_id]

    flagged = 0
    cursor = database[CANDIDATES_COLLECTION].find(
        {"marketing_consent": True}, {"tenant_id": 1, "created_at": 1}, batch_size=batch
    )
    documents: list[Document] = []
    async with cursor:
        async for document in cursor:
            documents.append(document)
            if len(documents) == batch:
                flagged += await _grant_flagged(database, documents, now, policy_of)
                documents = []
    if documents:
        flagged += await _grant_flagged(database, documents, now, policy_of)
    dated = 0
    open_ended = {
        "status": ConsentStatus.GRANTED.value,
        "lawful_basis": LawfulBasis.CONSENT.value,
        "expires_at": None,
    }
    states = await database[CONSENT_STATES].find(open_ended).to_list()
    for start in range(0, len(states), batch):
        dated += await _date_open_ended(database, states[start : start + batch], now, policy_of)
    if flagged or dated:
        logger.info(
            "consent backfill: %d profile consents recorded in the ledger, %d grants dated",
            flagged,
            dated,
        )


async def _grant_flagged(
    database: Database,
    documents: list[Document],
    now: datetime,
    policy_of: Callable[[str], Awaitable[RetentionPolicy]],
) -> int:
    by_tenant: dict[str, list[Document]] = {}
    for document in documents:
        by_tenant.setdefault(document["tenant_id"], []).append(document)
    recorded = 0
    for tenant_id, candidates in by_tenant.items():
        consents = ConsentRepository(database, tenant_id)
        states = await consents.marketing_states([str(c["_id"]) for c in candidates])
        policy = await policy_of(tenant_id)
        entries: list[ConsentEntry] = []
        new_states: list[ConsentState] = []
        for candidate in candidates:
            if str(candidate["_id"]) in states:
                continue  # the ledger has its word (granted, or withdrawn since)
            granted_at = _aware(candidate.get("created_at") or now)
            entry = ConsentEntry(
                tenant_id=tenant_id,
                candidate_id=str(candidate["_id"]),
                purpose=ConsentPurpose.MARKETING,
                status=ConsentStatus.GRANTED,
                lawful_basis=LawfulBasis.CONSENT,
                source=ConsentSource.BACKFILL,
                recorded_at=now,
                expires_at=backfilled_expiry(granted_at, now, policy),
                recorded_by=BACKFILL_USER,
                evidence={"granted_on": "profile", "granted_at": granted_at.isoformat()},
            )
            state = state_after(None, entry).model_copy(update={"granted_at": granted_at})
            entries.append(entry)
            new_states.append(
                state.model_copy(update={"next_check_at": next_check_at(state, policy)})
            )
        if entries:
            await consents.append_many(entries)
            await consents.save_states(new_states)
        recorded += len(entries)
    return recorded


async def _date_open_ended(
    database: Database,
    documents: list[Document],
    now: datetime,
    policy_of: Callable[[str], Awaitable[RetentionPolicy]],
) -> int:
    dated = 0
    for document in documents:
        state = ConsentState.model_validate({k: v for k, v in document.items() if k != "_id"})
        policy = await policy_of(state.tenant_id)
        granted_at = _aware(state.granted_at or state.changed_at)
        expires_at = backfilled_expiry(granted_at, now, policy)
        dated_state = state.model_copy(update={"expires_at": expires_at})
        updated = await database[CONSENT_STATES].update_one(
            {"_id": document["_id"], "expires_at": None},
            {
                "$set": {
                    "expires_at": expires_at,
                    "next_check_at": next_check_at(dated_state, policy),
                }
            },
        )
        dated += updated.modified_count
    return dated


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
