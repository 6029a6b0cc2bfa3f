"""A service's own projection of which email address belongs to which candidate.

Services that receive people from outside (event registrants, ATS applicants) match them to
candidates by email without calling the candidates service: they keep this directory current
from `candidate.created` / `candidate.updated`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from pymongo import ASCENDING

from crm_shared.contracts.events import CandidateMerged, CandidateProfile, CandidateUnmerged
from crm_shared.mongo import Database, Document, Session
from crm_shared.repository import TenantScopedCollection, new_id
from crm_shared.tombstones import erased_among

CANDIDATE_DIRECTORY_COLLECTION = "candidate_directory"


def normalise_email(email: str) -> str:
    """The form every service stores and matches email addresses in."""
    return email.strip().lower()


async def ensure_directory_indexes(database: Database) -> None:
    """One entry per tenant and email address."""
    await database[CANDIDATE_DIRECTORY_COLLECTION].create_index(
        [("tenant_id", ASCENDING), ("email", ASCENDING)], unique=True
    )


@dataclass(frozen=True)
class ProfileChange:
    """A candidate's profile as the candidates service published it, and when it did."""

    profile: CandidateProfile
    # The event's time. `candidate.created` and `candidate.updated` are consumed apart, so a
    # profile can arrive after a newer one: what a service keeps of it must not go back to it.
    as_of: datetime


class CandidateProjection(Protocol):
    """A service's own copy of candidates, kept current from the candidates service's events."""

    async def learn(self, profile: CandidateProfile, *, session: Session) -> object:
        """Stores (or refreshes) what the projection keeps of one candidate's profile."""
        ...

    async def fold(self, merged_id: str, survivor_id: str, *, session: Session) -> None:
        """What the projection held for `merged_id` now belongs to `survivor_id`."""
        ...


async def project_merge(
    projection: CandidateProjection, merged: CandidateMerged, *, session: Session
) -> None:
    """A merge: the folded candidate's entries go to the survivor, whose profile is relearnt."""
    await projection.fold(merged.merged_candidate_id, merged.survivor_candidate_id, session=session)
    await projection.learn(merged.survivor, session=session)


async def project_unmerge(
    projection: CandidateProjection, unmerged: CandidateUnmerged, *, session: Session
) -> None:
    """An unmerge: both candidates' profiles are relearnt, the restored one's first."""
    await projection.learn(unmerged.restored, session=session)
    await projection.learn(unmerged.survivor, session=session)


class CandidateDirectory:
    """One tenant's email-to-candidate directory."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._database = database
        self._tenant_id = tenant_id
        self._entries = TenantScopedCollection(database[CANDIDATE_DIRECTORY_COLLECTION], tenant_id)

    async def learn(self, profile: CandidateProfile, *, session: Session) -> list[str]:
        """Records every email of a candidate profile; returns them normalised.

        A profile event of an erased candidate that arrives after the erasure is ignored.
        """
        [emails] = await self.learn_many([profile], session=session)
        return emails

    async def learn_many(
        self, profiles: Sequence[CandidateProfile], *, session: Session
    ) -> list[list[str]]:
        """`learn` of each profile in turn, with one read and one bulk write: returns each
        profile's normalised addresses (none for an erased candidate's), in order. An address
        two of the profiles hold ends with the later one, as one by one."""
        erased = await erased_among(
            self._database,
            self._tenant_id,
            list(dict.fromkeys(profile.candidate_id for profile in profiles)),
            session=session,
        )
        learned: list[list[str]] = []
        holder: dict[str, str] = {}
        for profile in profiles:
            if profile.candidate_id in erased:
                learned.append([])
                continue
            emails = [normalise_email(email) for email in profile.emails]
            holder.update(dict.fromkeys(emails, profile.candidate_id))
            learned.append(emails)
        await self._entries.update_each(
            [
                ({"email": email}, {"$set": {"candidate_id": candidate_id}})
                for email, candidate_id in holder.items()
            ],
            upsert=True,
            session=session,
        )
        return learned

    async def learn_links(
        self, profiles: Sequence[CandidateProfile], *, session: Session
    ) -> list[tuple[str, str]]:
        """`learn_many`, as the (address, candidate) pairs learned in the profiles' order:
        what `link_by_address` links the records stored before their person was known by."""
        learned = await self.learn_many(profiles, session=session)
        return [
            (email, profile.candidate_id)
            for profile, emails in zip(profiles, learned, strict=True)
            for email in emails
        ]

    async def fold(self, merged_id: str, survivor_id: str, *, session: Session) -> None:
        """Every address of one candidate now belongs to another (a merge folded them)."""
        await self._entries.update_many(
            {"candidate_id": merged_id}, {"$set": {"candidate_id": survivor_id}}, session=session
        )

    # The name the services call today; `fold` is the `CandidateProjection` one.
    reassign = fold

    async def candidate_for(self, email: str, *, session: Session | None = None) -> str | None:
        """The candidate holding this email address, if any is known."""
        document = await self._entries.find_one({"email": normalise_email(email)}, session=session)
        return _candidate_of(document)

    async def candidates_for(
        self, emails: Iterable[str], *, session: Session | None = None
    ) -> dict[str, str]:
        """The candidate holding each of these addresses that one is known for (normalised
        address -> candidate id), in one query: what `candidate_for` answers for each."""
        addresses = sorted({normalise_email(email) for email in emails})
        if not addresses:
            return {}
        entries = await self._entries.find(
            {"email": {"$in": addresses}},
            projection={"email": 1, "candidate_id": 1},
            session=session,
        )
        found = {str(entry["email"]): _candidate_of(entry) for entry in entries}
        return {email: candidate for email, candidate in found.items() if candidate}

    async def candidate_for_update(self, email: str, *, session: Session) -> str | None:
        """The candidate holding this address, for a transaction that stores what it found
        (a registrant's candidate, or none yet) and relies on `learn`'s transaction to link
        what it stored unlinked.

        A plain read would let the two miss each other: each reads a snapshot without the
        other's uncommitted write (the entry; the unlinked record), both commit, and the record
        stays unlinked for good. So the address's entry is written here (created without a
        candidate if there is none): `learn` writes the same document, the database aborts
        whichever transaction comes second, and the driver runs it again, seeing the other's."""
        address = normalise_email(email)
        await self._entries.update_one(
            {"email": address}, {"$set": {"claimed_by": new_id()}}, upsert=True, session=session
        )
        return _candidate_of(await self._entries.find_one({"email": address}, session=session))


async def link_by_address(
    collection: TenantScopedCollection,
    links: Sequence[tuple[str, str]],
    *,
    session: Session | None,
) -> None:
    """Links records (registrations, ATS applications) stored under an address before its
    person was known as a candidate: for each (address, candidate) in turn, the address's
    records linked to nobody, in one ordered bulk write (an address named twice goes to the
    first, as one by one). A record linked to a candidate keeps it."""
    await collection.update_in_order(
        [
            ({"email": email, "candidate_id": None}, {"$set": {"candidate_id": candidate_id}})
            for email, candidate_id in links
        ],
        session=session,
    )


def _candidate_of(entry: Document | None) -> str | None:
    # An entry written by `candidate_for_update` before any candidate held the address has none.
    candidate_id = entry.get("candidate_id") if entry else None
    return str(candidate_id) if candidate_id else None
