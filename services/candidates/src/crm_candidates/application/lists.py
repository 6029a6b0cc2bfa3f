"""Use cases of stored static lists: create, edit, archive, add and remove members.

Each change is one transaction with the events it causes staged in the outbox
(`list.member_added`, `list.member_removed`, `list.archived`), which is how campaigns learns who
a broadcast to the list reaches.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from crm_candidates.domain.lists import (
    Additions,
    ListMember,
    Removals,
    StaticList,
    plan_additions,
    plan_removals,
)
from crm_candidates.domain.models import Candidate
from crm_candidates.repositories.candidates import CandidateRepository
from crm_candidates.repositories.lists import ListRepository
from crm_shared import (
    LIST_ARCHIVED,
    LIST_MEMBER_ADDED,
    LIST_MEMBER_REMOVED,
    ListArchived,
    ListMemberAdded,
    ListMemberRemoved,
    MongoClient,
    Outbox,
    Session,
    StaleVersionError,
    in_transaction,
    utc_now,
)

ResultT = TypeVar("ResultT")


class ListNotFoundError(LookupError):
    """The tenant has no list with this id."""

    def __init__(self, list_id: str) -> None:
        super().__init__(f"no list {list_id}")


@dataclass(frozen=True)
class ListCommands:
    """The stored lists of one tenant, changed one transaction at a time."""

    mongo: MongoClient
    outbox: Outbox
    lists: ListRepository
    candidates: CandidateRepository

    async def create(
        self, static_list: StaticList, candidate_ids: list[str]
    ) -> tuple[StaticList, Additions]:
        """Stores a new list with its first members (`DuplicateKeyInTenantError` for a name an
        active list has)."""

        async def create(session: Session) -> Additions:
            await self.lists.add(static_list, session=session)
            return await self._add(static_list, candidate_ids, static_list.created_by, session)

        return static_list, await self._run(create)

    async def add_members(self, list_id: str, candidate_ids: list[str], *, by: str) -> Additions:
        """Adds the active candidates among `candidate_ids`; reports the others."""

        async def add(session: Session) -> Additions:
            static_list = await self._active(list_id, session)
            return await self._add(static_list, candidate_ids, by, session)

        return await self._run(add)

    async def remove_members(self, list_id: str, candidate_ids: list[str], *, by: str) -> Removals:
        """Takes the members among `candidate_ids` off the list; reports the others."""

        async def remove(session: Session) -> Removals:
            static_list = await self._active(list_id, session)
            members = await self.lists.members_among(list_id, candidate_ids, session=session)
            known = await self.candidates.get_many(candidate_ids, session=session)
            plan = plan_removals(candidate_ids, set(known), members)
            if plan.removed:
                await self.lists.remove_members(list_id, plan.removed, session=session)
                now = utc_now()
                for candidate_id in plan.removed:
                    payload = ListMemberRemoved(
                        list_id=list_id,
                        list_name=static_list.name,
                        candidate_id=candidate_id,
                        changed_by=by,
                        changed_at=now,
                    )
                    await self.outbox.stage(
                        LIST_MEMBER_REMOVED,
                        tenant_id=static_list.tenant_id,
                        subject=candidate_id,
                        data=payload,
                        session=session,
                    )
            return plan

        return await self._run(remove)

    async def edit(
        self, list_id: str, expected_version: int, changes: Mapping[str, object]
    ) -> StaticList:
        """Renames or redescribes the list, made from `expected_version` (`StaleVersionError`
        if it changed meanwhile, `ListArchivedError` if archived)."""
        current = await self.lists.get(list_id)
        if current is None:
            raise ListNotFoundError(list_id)
        if current.version != expected_version:
            raise StaleVersionError(current.version)
        edited = current.edited(changes)
        if not await self.lists.replace(edited, expected_version):
            latest = await self.lists.get(list_id)
            raise StaleVersionError(latest.version if latest else 0)
        return edited

    async def archive(self, list_id: str, *, by: str) -> StaticList:
        """Archives the list (final) and stages `list.archived`; `ListArchivedError` if it was
        already."""

        async def archive(session: Session) -> StaticList:
            current = await self.lists.get(list_id, session=session)
            if current is None:
                raise ListNotFoundError(list_id)
            archived = current.archived(by)
            if not await self.lists.replace(archived, current.version, session=session):
                raise StaleVersionError(current.version)
            payload = ListArchived(
                list_id=list_id,
                list_name=archived.name,
                archived_by=by,
                archived_at=archived.archived_at or utc_now(),
            )
            await self.outbox.stage(
                LIST_ARCHIVED,
                tenant_id=archived.tenant_id,
                subject=list_id,
                data=payload,
                session=session,
            )
            return archived

        return await self._run(archive)

    async def _active(self, list_id: str, session: Session) -> StaticList:
        static_list = await self.lists.get(list_id, session=session)
        if static_list is None:
            raise ListNotFoundError(list_id)
        static_list.require_active()
        return static_list

    async def _add(
        self, static_list: StaticList, candidate_ids: list[str], by: str, session: Session
    ) -> Additions:
        members = await self.lists.members_among(static_list.id, candidate_ids, session=session)
        found = await self.candidates.get_many(candidate_ids, session=session)
        statuses = {candidate_id: c.status.value for candidate_id, c in found.items()}
        plan = plan_additions(candidate_ids, statuses, members)
        if plan.added:
            now = utc_now()
            await self.lists.add_members(static_list.id, plan.added, by=by, at=now, session=session)
            for candidate_id in plan.added:
                payload = ListMemberAdded(
                    list_id=static_list.id,
                    list_name=static_list.name,
                    candidate_id=candidate_id,
                    changed_by=by,
                    changed_at=now,
                )
                await self.outbox.stage(
                    LIST_MEMBER_ADDED,
                    tenant_id=static_list.tenant_id,
                    subject=candidate_id,
                    data=payload,
                    session=session,
                )
        return plan

    async def _run(self, work: Callable[[Session], Awaitable[ResultT]]) -> ResultT:
        result = await in_transaction(self.mongo, work)
        self.outbox.notify_committed()
        return result


@dataclass(frozen=True)
class ListQueries:
    """The reads of one tenant's stored lists: the lists, their member counts and members."""

    lists: ListRepository
    candidates: CandidateRepository

    async def get(self, list_id: str) -> StaticList | None:
        """The list with this id, archived or not."""
        return await self.lists.get(list_id)

    async def page(
        self, *, include_archived: bool, after: str | None, limit: int
    ) -> list[StaticList]:
        """Up to `limit` lists in creation order after the list id `after`."""
        return await self.lists.page(include_archived=include_archived, after=after, limit=limit)

    async def member_count(self, list_id: str) -> int:
        return await self.lists.member_count(list_id)

    async def members(
        self, list_id: str, *, after: str | None, limit: int
    ) -> tuple[list[ListMember], dict[str, Candidate], bool]:
        """Up to `limit` members in candidate id order after the candidate id `after`, the
        candidates of those members that still exist (by id), and whether more follow."""
        origin = await self.candidates.least_id() if after is None else None
        found = await self.lists.members(list_id, after=after, limit=limit + 1, origin=origin)
        items = found[:limit]
        people = await self.candidates.get_many([member.candidate_id for member in items])
        return items, people, len(found) > limit
