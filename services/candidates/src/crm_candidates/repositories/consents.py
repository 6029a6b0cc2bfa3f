"""MongoDB access for consent: the ledger, current states, preferences, sign-ups, settings."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from pymongo import ASCENDING

from crm_candidates.domain.consent import (
    ConsentEntry,
    ConsentPurpose,
    ConsentState,
    ConsentStatus,
    PendingSignup,
    Preferences,
    RetentionPolicy,
)
from crm_shared import (
    Database,
    Document,
    Session,
    TenantScopedCollection,
    from_document,
    to_document,
    utc_now,
)

CONSENTS = "consents"
CONSENT_STATES = "consent_states"
PREFERENCES = "preferences"
COMMUNITY_SIGNUPS = "community_signups"
PENDING_SIGNUPS = "pending_signups"
CONFIRMATION_THROTTLE = "confirmation_throttle"
TENANT_SETTINGS = "tenant_settings"
RETENTION_SETTINGS = "retention"


async def ensure_consent_indexes(database: Database) -> None:
    """Creates the indexes of the consent collections."""
    await database[CONSENTS].create_index(
        [("tenant_id", ASCENDING), ("candidate_id", ASCENDING), ("recorded_at", ASCENDING)]
    )
    states = database[CONSENT_STATES]
    await states.create_index(
        [("tenant_id", ASCENDING), ("candidate_id", ASCENDING), ("purpose", ASCENDING)],
        unique=True,
    )
    # The expiry worker's scan: granted consents by the time they are next due.
    await states.create_index([("status", ASCENDING), ("next_check_at", ASCENDING)])
    await database[PREFERENCES].create_index(
        [("tenant_id", ASCENDING), ("candidate_id", ASCENDING)], unique=True
    )
    await database[COMMUNITY_SIGNUPS].create_index(
        [("tenant_id", ASCENDING), ("candidate_id", ASCENDING)]
    )
    await database[COMMUNITY_SIGNUPS].create_index(
        [("tenant_id", ASCENDING), ("signup_id", ASCENDING)]
    )
    pending = database[PENDING_SIGNUPS]
    # The per-tenant hourly cap counts by request time; the purge scans by expiry.
    await pending.create_index([("tenant_id", ASCENDING), ("requested_at", ASCENDING)])
    await pending.create_index([("expires_at", ASCENDING)])
    await database[TENANT_SETTINGS].create_index(
        [("tenant_id", ASCENDING), ("kind", ASCENDING)], unique=True
    )


def _state_document(state: ConsentState) -> Document:
    return state.model_dump(mode="python")


def _state(document: Document) -> ConsentState:
    return ConsentState.model_validate({k: v for k, v in document.items() if k != "_id"})


class ConsentRepository:
    """One tenant's consent ledger and current consent states."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self.tenant_id = tenant_id
        self._ledger = TenantScopedCollection(database[CONSENTS], tenant_id)
        self._states = TenantScopedCollection(database[CONSENT_STATES], tenant_id)

    async def append(self, entry: ConsentEntry, *, session: Session) -> None:
        """Adds an entry to the ledger (entries are never changed)."""
        await self._ledger.insert_one(to_document(entry), session=session)

    async def confirmed(self, candidate_id: str, request_id: str, *, session: Session) -> bool:
        """Whether a confirmation link (by its request id) was already used."""
        found = await self._ledger.find_one(
            {"candidate_id": candidate_id, "evidence.request_id": request_id}, session=session
        )
        return found is not None

    async def history(self, candidate_id: str) -> list[ConsentEntry]:
        """The candidate's ledger, oldest first."""
        documents = await self._ledger.find(
            {"candidate_id": candidate_id}, sort=[("recorded_at", ASCENDING), ("_id", ASCENDING)]
        )
        return [from_document(ConsentEntry, d) for d in documents]

    async def states(
        self, candidate_id: str, *, session: Session | None = None
    ) -> dict[ConsentPurpose, ConsentState]:
        """The current state of each purpose the candidate has a ledger for."""
        documents = await self._states.find({"candidate_id": candidate_id}, session=session)
        states = [_state(d) for d in documents]
        return {state.purpose: state for state in states}

    async def state_documents(self, candidate_id: str, *, session: Session) -> list[Document]:
        """The candidate's consent states as stored, to be put back later (a merge's undo)."""
        return [
            _state_document(state)
            for state in (await self.states(candidate_id, session=session)).values()
        ]

    async def carried_by_merge(
        self, candidate_id: str, merge_id: str, *, session: Session
    ) -> list[ConsentEntry]:
        """The entries a merge appended to the candidate's ledger (carried decisions)."""
        documents = await self._ledger.find(
            {"candidate_id": candidate_id, "evidence.merge_id": merge_id}, session=session
        )
        return [from_document(ConsentEntry, d) for d in documents]

    async def put_back(
        self,
        candidate_id: str,
        purpose: ConsentPurpose,
        document: Document | None,
        *,
        session: Session,
    ) -> ConsentState | None:
        """Puts back one purpose's state as `state_documents` gave it; None removes the state
        (the candidate had decided nothing on the purpose)."""
        if document is None:
            await self._states.delete_one(
                {"candidate_id": candidate_id, "purpose": purpose.value}, session=session
            )
            return None
        state = _state(document)
        await self.save_state(state, session=session)
        return state

    async def append_many(
        self, entries: list[ConsentEntry], *, session: Session | None = None
    ) -> None:
        """Adds several entries to the ledger with one write."""
        if entries:
            await self._ledger.insert_many([to_document(e) for e in entries], session=session)

    async def marketing_states(
        self, candidate_ids: list[str], *, session: Session | None = None
    ) -> dict[str, ConsentState]:
        """The current marketing state of each of these candidates that has one."""
        documents = await self._states.find_in(
            "candidate_id",
            candidate_ids,
            {"purpose": ConsentPurpose.MARKETING.value},
            session=session,
        )
        return {state.candidate_id: state for state in map(_state, documents)}

    async def save_states(
        self, states: list[ConsentState], *, session: Session | None = None
    ) -> None:
        """`save_state` of several, with one write."""
        await self._states.update_each(
            [
                (
                    {"candidate_id": state.candidate_id, "purpose": state.purpose.value},
                    {"$set": _state_document(state) | {"lease_owner": None, "lease_until": None}},
                )
                for state in states
            ],
            upsert=True,
            session=session,
        )

    async def save_state(self, state: ConsentState, *, session: Session) -> None:
        """Stores the current state of one purpose, releasing any worker lease on it."""
        await self._states.update_one(
            {"candidate_id": state.candidate_id, "purpose": state.purpose.value},
            {"$set": _state_document(state) | {"lease_owner": None, "lease_until": None}},
            upsert=True,
            session=session,
        )


async def claim_due_consents(
    database: Database, *, owner: str, lease: timedelta, now: datetime, limit: int
) -> list[ConsentState]:
    """Leases up to `limit` granted consents of any tenant whose next check is due, earliest
    first: three queries however many (the due ids, the lease, the leased), where a claim of
    each in turn asked once per consent and, on SecantusDB, read every due consent each time.

    Deliberately cross-tenant: the expiry worker serves every tenant; each claimed consent is
    then handled within its own tenant. The lease keeps other replicas away while it lasts;
    of two replicas after the same ids, each leases only those still free.
    """
    states = database[CONSENT_STATES]
    due: Document = {
        "status": ConsentStatus.GRANTED.value,
        "next_check_at": {"$lte": now},
        "$or": [{"lease_until": None}, {"lease_until": {"$lte": now}}],
    }
    found = (
        await states.find(due, {"_id": 1})
        .sort([("next_check_at", ASCENDING)])
        .limit(limit)
        .to_list()
    )
    if not found:
        return []
    ids = [document["_id"] for document in found]
    until = now + lease
    # A claim id of its own: a lease left by this owner's earlier batch is not this one.
    claim = f"{owner}:{uuid.uuid4().hex}"
    await states.update_many(
        {"_id": {"$in": ids}, **due},
        {"$set": {"lease_owner": owner, "lease_claim": claim, "lease_until": until}},
    )
    leased = await states.find({"_id": {"$in": ids}, "lease_claim": claim}).to_list()
    return sorted(
        (_state(document) for document in leased),
        key=lambda state: state.next_check_at or now,
    )


async def holds_lease(
    database: Database, state: ConsentState, owner: str, *, session: Session
) -> bool:
    """Whether `owner` still holds the lease on the consent, unchanged since it was claimed."""
    document = await database[CONSENT_STATES].find_one(
        {
            "tenant_id": state.tenant_id,
            "candidate_id": state.candidate_id,
            "purpose": state.purpose.value,
            "lease_owner": owner,
            "changed_at": state.changed_at,
        },
        session=session,
    )
    return document is not None


class PreferenceRepository:
    """One tenant's preference-centre choices."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._preferences = TenantScopedCollection(database[PREFERENCES], tenant_id)
        self.tenant_id = tenant_id

    async def get(self, candidate_id: str) -> Preferences:
        """The candidate's choices (defaults when none were made)."""
        document = await self._preferences.find_one({"candidate_id": candidate_id})
        if document is None:
            return Preferences(tenant_id=self.tenant_id, candidate_id=candidate_id)
        return Preferences.model_validate({k: v for k, v in document.items() if k != "_id"})

    async def save(self, preferences: Preferences, *, session: Session) -> None:
        """Stores the candidate's choices."""
        await self._preferences.update_one(
            {"candidate_id": preferences.candidate_id},
            {"$set": preferences.model_dump(mode="python", exclude={"tenant_id"})},
            upsert=True,
            session=session,
        )


class SignupRepository:
    """One tenant's talent-community sign-ups and the per-address confirmation throttle."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._signups = TenantScopedCollection(database[COMMUNITY_SIGNUPS], tenant_id)
        self._throttle = TenantScopedCollection(database[CONFIRMATION_THROTTLE], tenant_id)
        self.tenant_id = tenant_id

    def _throttle_id(self, email_digest: str) -> str:
        # One document per tenant and address: an address may join two tenants' communities,
        # and the digest alone as `_id` made the second tenant's upsert a duplicate key.
        return f"{self.tenant_id}:{email_digest}"

    async def record(self, signup: Document, *, session: Session | None = None) -> None:
        """Keeps a sign-up and what became of it (evidence, and the honeypot's catch)."""
        await self._signups.insert_one(signup, session=session)

    async def link_candidate(self, signup_id: str, candidate_id: str, *, session: Session) -> None:
        """Names the candidate a confirmed sign-up became on its evidence, so the person's
        export and erasure find it."""
        await self._signups.update_many(
            {"signup_id": signup_id}, {"$set": {"candidate_id": candidate_id}}, session=session
        )

    async def confirmations_sent(self, email_digest: str, *, session: Session) -> list[datetime]:
        """When confirmation mails went to the address (by digest), as far as still counted."""
        document = await self._throttle.find_one(
            {"_id": self._throttle_id(email_digest)}, session=session
        )
        return list(document["sent_at"]) if document else []

    async def set_confirmations_sent(
        self, email_digest: str, sent_at: list[datetime], *, session: Session
    ) -> None:
        """Stores the counted sends; every sign-up writes this one document, so two concurrent
        sign-ups of one address conflict and one is retried: the limit holds under races."""
        await self._throttle.update_one(
            {"_id": self._throttle_id(email_digest)},
            {"$set": {"sent_at": sent_at}},
            upsert=True,
            session=session,
        )


class PendingSignupRepository:
    """One tenant's talent-community sign-ups that wait for their double opt-in."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._pending = TenantScopedCollection(database[PENDING_SIGNUPS], tenant_id)

    async def add(self, signup: PendingSignup, *, session: Session) -> None:
        """Stores a new pending sign-up."""
        document = signup.model_dump(mode="python", exclude={"id"}) | {"_id": signup.id}
        await self._pending.insert_one(document, session=session)

    async def get(self, signup_id: str, *, session: Session | None = None) -> PendingSignup | None:
        """The sign-up, unless it was purged (expired, or erased with its address)."""
        document = await self._pending.find_one({"_id": signup_id}, session=session)
        if document is None:
            return None
        return PendingSignup.model_validate(
            {k: v for k, v in document.items() if k != "_id"} | {"id": document["_id"]}
        )

    async def requested_since(self, since: datetime, *, session: Session) -> int:
        """How many sign-ups the tenant received since `since` (confirmed ones included)."""
        return await self._pending.count({"requested_at": {"$gte": since}}, session=session)

    async def mark_confirmed(
        self, signup_id: str, candidate_id: str, confirmed_at: datetime, *, session: Session
    ) -> None:
        """Records which candidate the sign-up became and forgets what the form said: the
        candidate holds it now. What is left makes the link idempotent until it expires."""
        await self._pending.update_one(
            {"_id": signup_id},
            {
                "$set": {
                    "candidate_id": candidate_id,
                    "confirmed_at": confirmed_at,
                    "email": "",
                    "first_name": "",
                    "last_name": "",
                    "topics": [],
                }
            },
            session=session,
        )


async def purge_expired_signups(database: Database, *, now: datetime) -> int:
    """Deletes every tenant's sign-ups past their expiry, confirmed or not; returns how many.

    Deliberately cross-tenant, like the consent expiry scan: one purge serves every tenant."""
    result = await database[PENDING_SIGNUPS].delete_many({"expires_at": {"$lte": now}})
    return result.deleted_count


class SettingsRepository:
    """One tenant's consent and retention settings."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._settings = TenantScopedCollection(database[TENANT_SETTINGS], tenant_id)

    async def retention(self, *, session: Session | None = None) -> RetentionPolicy:
        """The tenant's retention policy (the defaults until an admin sets one)."""
        document = await self._settings.find_one({"kind": RETENTION_SETTINGS}, session=session)
        if document is None:
            return RetentionPolicy()
        return RetentionPolicy.model_validate(document["policy"])

    async def set_retention(self, policy: RetentionPolicy) -> None:
        """Replaces the tenant's retention policy."""
        await self._settings.update_one(
            {"kind": RETENTION_SETTINGS},
            {"$set": {"policy": policy.model_dump(mode="json"), "updated_at": utc_now()}},
            upsert=True,
        )
