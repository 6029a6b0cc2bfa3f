"""Marketing consent set on the profile (create, PATCH) or by an import reaches the consent
ledger with the tenant's validity, so it lapses like any grant; the migration gives the consents
recorded before that (and grants without an expiry) theirs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from crm_candidates.application.candidates import CandidateProfiles, CandidateWriter
from crm_candidates.application.consent_flags import ConsentFlags, backfill_consent_expiry
from crm_candidates.application.consents import ConfirmationPolicy, ConsentChange, ConsentService
from crm_candidates.application.expiry import ConsentExpiryWorker
from crm_candidates.domain.consent import (
    ConsentPurpose,
    ConsentSource,
    ConsentStatus,
    LawfulBasis,
    RetentionPolicy,
)
from crm_candidates.domain.models import Candidate
from crm_candidates.repositories.candidates import CandidateRepository
from crm_candidates.repositories.collections import CANDIDATES_COLLECTION
from crm_candidates.repositories.consents import (
    CONSENT_STATES,
    CONSENTS,
    SettingsRepository,
    claim_due_consents,
)
from crm_candidates.repositories.profile_rules import ProfileRulesRepository
from crm_candidates.repositories.segments import SegmentRepository
from crm_shared import CONSENT_CHANGED, Session, SignedLinks, in_transaction, to_document, utc_now
from helpers import unique
from integration.service_storage import ServiceStorage

pytestmark = pytest.mark.integration

LINKS = SignedLinks("a-secret-of-at-least-thirty-two-characters")
CONFIRMATION = ConfirmationPolicy("http://crm.test", max_per_address=3, window=timedelta(days=1))
POLICY = RetentionPolicy(consent_validity_days=30, re_permission_days_before=0)


def profiles(storage: ServiceStorage, tenant: str) -> CandidateProfiles:
    """The profile writes as the API makes them, for Rita."""
    database = storage.database
    writer = CandidateWriter(
        storage.mongo,
        storage.outbox,
        CandidateRepository(database, tenant),
        SegmentRepository(database, tenant),
        ConsentFlags(database, storage.outbox, tenant, recorded_by="rita"),
    )
    return CandidateProfiles(writer, ProfileRulesRepository(database, tenant))


async def create(storage: ServiceStorage, tenant: str, **fields: Any) -> str:
    person = unique("p")
    upserted = await profiles(storage, tenant).create(
        {"first_name": "Ada", "last_name": person, "emails": [f"{person}@example.org"], **fields},
        default_region=None,
        tenant_id=tenant,
        user_id="rita",
        owner_id=None,
    )
    return upserted.candidate.id


async def ledger(storage: ServiceStorage, candidate_id: str) -> list[dict[str, Any]]:
    return (
        await storage.database[CONSENTS]
        .find({"candidate_id": candidate_id})
        .sort([("recorded_at", 1), ("_id", 1)])
        .to_list()
    )


async def state(storage: ServiceStorage, candidate_id: str) -> dict[str, Any]:
    found = await storage.database[CONSENT_STATES].find_one(
        {"candidate_id": candidate_id, "purpose": "marketing"}
    )
    assert found is not None
    return found


async def test_consent_set_on_the_profile_is_a_ledger_grant_that_lapses(
    storage: ServiceStorage,
) -> None:
    tenant = unique("tenant")
    await SettingsRepository(storage.database, tenant).set_retention(POLICY)
    created = await create(storage, tenant, marketing_consent=True)
    patched = await create(storage, tenant)
    silent = await create(storage, tenant)
    await profiles(storage, tenant).change(
        patched, {"marketing_consent": True}, default_region=None
    )
    await profiles(storage, tenant).change(silent, {"headline": "Engineer"}, default_region=None)

    before = utc_now()
    for candidate_id in (created, patched):
        [entry] = await ledger(storage, candidate_id)
        assert (entry["status"], entry["source"], entry["recorded_by"]) == (
            "granted",
            "profile",
            "rita",
        )
        assert entry["lawful_basis"] == "consent"
        expected = before + timedelta(days=30)
        assert abs(entry["expires_at"] - expected) < timedelta(minutes=1)
        stored = await state(storage, candidate_id)
        assert stored["next_check_at"] == stored["expires_at"] == entry["expires_at"]
    assert await ledger(storage, silent) == []
    changed = await storage.outbox.records.count_documents(
        {"topic": CONSENT_CHANGED.name, "key": {"$in": [created, patched]}}
    )
    assert changed == 2

    # The expiry worker finds it by `next_check_at`, like a grant made through the ledger.
    past = utc_now() - timedelta(minutes=1)
    await storage.database[CONSENT_STATES].update_one(
        {"candidate_id": patched, "purpose": "marketing"},
        {"$set": {"expires_at": past, "next_check_at": past}},
    )
    worker = ConsentExpiryWorker(
        storage.mongo,
        storage.database,
        storage.outbox,
        LINKS,
        CONFIRMATION,
        lease=timedelta(seconds=30),
        batch_size=10,
    )
    assert await worker.run_due() == 1
    lapsed = await CandidateRepository(storage.database, tenant).get(patched)
    assert lapsed is not None
    assert lapsed.marketing_consent is False
    assert lapsed.status.value == "archived"
    assert [e["status"] for e in await ledger(storage, patched)] == ["granted", "expired"]

    # Cleared on the profile: a withdrawal, not a grant left standing until it lapses.
    await profiles(storage, tenant).change(
        created, {"marketing_consent": False}, default_region=None
    )
    assert [e["status"] for e in await ledger(storage, created)] == ["granted", "withdrawn"]
    assert (await state(storage, created))["next_check_at"] is None


async def test_a_grant_through_the_ledger_is_recorded_once(storage: ServiceStorage) -> None:
    tenant = unique("tenant")
    candidate_id = await create(storage, tenant)
    service = ConsentService(
        storage.mongo, storage.database, storage.outbox, tenant, LINKS, CONFIRMATION
    )
    await service.record(
        candidate_id,
        ConsentChange(purpose=ConsentPurpose.MARKETING, status=ConsentStatus.GRANTED),
        "rita",
    )
    assert [e["source"] for e in await ledger(storage, candidate_id)] == ["recruiter"]


async def test_an_import_records_each_grant_in_one_write(storage: ServiceStorage) -> None:
    """The import's chunk hands its new and changed records over at once."""
    tenant = unique("tenant")
    await SettingsRepository(storage.database, tenant).set_retention(POLICY)
    people = [
        Candidate(
            tenant_id=tenant,
            first_name="Imported",
            last_name=str(index),
            emails=[f"{unique('i')}@example.org"],
            marketing_consent=index < 2,
            created_by="imports",
        )
        for index in range(3)
    ]
    flags = ConsentFlags(storage.database, storage.outbox, tenant, ConsentSource.IMPORT, "ivan")

    async def record(session: Session) -> int:
        return len(await flags.record([(False, person) for person in people], session=session))

    assert await in_transaction(storage.mongo, record) == 2
    for person in people[:2]:
        [entry] = await ledger(storage, person.id)
        assert (entry["source"], entry["recorded_by"]) == ("import", "ivan")
        assert entry["expires_at"] is not None
    assert await ledger(storage, people[2].id) == []


async def test_the_migration_dates_every_consent_that_could_never_lapse(
    storage: ServiceStorage,
) -> None:
    tenant = unique("tenant")
    await SettingsRepository(storage.database, tenant).set_retention(
        RetentionPolicy(consent_validity_days=365, re_permission_days_before=30)
    )
    now = utc_now()
    recent = Candidate(
        tenant_id=tenant,
        first_name="Recent",
        last_name="Flag",
        emails=["recent@example.org"],
        marketing_consent=True,
        created_by="rita",
        created_at=now - timedelta(days=100),
    )
    old = recent.model_copy(
        update={"id": unique("old"), "last_name": "Old", "created_at": now - timedelta(days=400)}
    )
    none = recent.model_copy(update={"id": unique("none"), "marketing_consent": False})
    withdrawn = recent.model_copy(update={"id": unique("withdrawn")})
    await storage.database[CANDIDATES_COLLECTION].insert_many(
        [to_document(c) for c in (recent, old, none, withdrawn)]
    )
    # Decided in the ledger already: the ledger's word stands.
    open_grant = {
        "tenant_id": tenant,
        "purpose": "marketing",
        "lawful_basis": LawfulBasis.CONSENT.value,
        "source": "recruiter",
        "expires_at": None,
        "next_check_at": None,
    }
    await storage.database[CONSENT_STATES].insert_many(
        [
            open_grant
            | {
                "candidate_id": withdrawn.id,
                "status": "withdrawn",
                "changed_at": now,
                "withdrawn_at": now,
            },
            open_grant
            | {
                "candidate_id": "granted-without-end",
                "status": "granted",
                "changed_at": now - timedelta(days=200),
                "granted_at": now - timedelta(days=200),
            },
        ]
    )

    await backfill_consent_expiry(storage.database, batch=2)
    await backfill_consent_expiry(storage.database, batch=2)  # safe to run again

    [entry] = await ledger(storage, recent.id)
    assert (entry["status"], entry["source"]) == ("granted", "backfill")
    assert abs(entry["expires_at"] - (recent.created_at + timedelta(days=365))) < timedelta(
        seconds=1
    )
    recent_state = await state(storage, recent.id)
    assert recent_state["next_check_at"] == entry["expires_at"] - timedelta(days=30)
    assert abs(recent_state["granted_at"] - recent.created_at) < timedelta(seconds=1)
    # Past its validity already: it lapses only after the re-permission mail had its window.
    [old_entry] = await ledger(storage, old.id)
    assert abs(old_entry["expires_at"] - (now + timedelta(days=30))) < timedelta(minutes=1)
    assert await ledger(storage, none.id) == []
    assert await ledger(storage, withdrawn.id) == []
    dated = await state(storage, "granted-without-end")
    assert abs(dated["expires_at"] - (now + timedelta(days=165))) < timedelta(minutes=1)
    assert dated["next_check_at"] == dated["expires_at"] - timedelta(days=30)


async def test_the_expiry_worker_leases_a_batch_of_due_consents_at_once(
    storage: ServiceStorage,
) -> None:
    tenant = unique("tenant")
    now = utc_now()
    await storage.database[CONSENT_STATES].insert_many(
        [
            {
                "tenant_id": tenant,
                "candidate_id": f"due-{index}",
                "purpose": "marketing",
                "status": "granted",
                "lawful_basis": "consent",
                "source": "profile",
                "changed_at": now,
                "expires_at": now - timedelta(minutes=index),
                "next_check_at": now - timedelta(minutes=index),
            }
            for index in range(5)
        ]
    )

    first = await claim_due_consents(
        storage.database, owner="a", lease=timedelta(minutes=1), now=now, limit=3
    )
    second = await claim_due_consents(
        storage.database, owner="b", lease=timedelta(minutes=1), now=now, limit=3
    )

    # Earliest first, each leased once: what one worker holds the other does not get.
    assert [s.candidate_id for s in first] == ["due-4", "due-3", "due-2"]
    assert [s.candidate_id for s in second] == ["due-1", "due-0"]
    assert (
        await claim_due_consents(
            storage.database, owner="a", lease=timedelta(minutes=1), now=now, limit=3
        )
        == []
    )
    later = now + timedelta(minutes=2)  # the leases ran out: claimed again
    assert (
        len(
            await claim_due_consents(
                storage.database, owner="c", lease=timedelta(minutes=1), now=later, limit=10
            )
        )
        == 5
    )
