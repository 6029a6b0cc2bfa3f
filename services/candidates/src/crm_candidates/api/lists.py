"""Routes of stored static lists: hand-picked sets of candidates a broadcast can be sent to."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from crm_candidates.api.deps import ListCommandsDep, ListQueriesDep
from crm_candidates.api.list_schemas import (
    ListCreate,
    ListCreated,
    ListMemberListed,
    ListMembersAdded,
    ListMembersChange,
    ListMembersRemoved,
    ListPublic,
    ListUpdate,
)
from crm_candidates.api.routes import Cursor, PageSize
from crm_candidates.api.schemas import CandidateSummary
from crm_candidates.application.lists import ListNotFoundError, ListQueries
from crm_candidates.domain.lists import (
    Additions,
    ListArchivedError,
    StaticList,
    TooManyIdsError,
    distinct_ids,
)
from crm_candidates.domain.models import DuplicateKeyInTenantError
from crm_shared import (
    CurrentPrincipal,
    FieldError,
    IfMatch,
    Page,
    ProblemError,
    StaleVersionError,
    decode_cursor,
    encode_cursor,
    etag_for,
    first_page_of,
    reject_unknown_query_params,
    require_permission,
    required_version,
    stale_version,
    validation_problem,
)

lists_router = APIRouter(prefix="/lists", tags=["lists"])


def _not_found(list_id: str) -> ProblemError:
    return ProblemError(404, f"no list {list_id}", problem_type="not-found")


def _conflict(detail: str) -> ProblemError:
    return ProblemError(409, detail, problem_type="conflict")


def _ids(candidate_ids: list[str]) -> list[str]:
    try:
        return distinct_ids(candidate_ids)
    except TooManyIdsError as error:
        raise validation_problem([FieldError("candidate_ids", str(error))], str(error)) from None


async def _public(static_list: StaticList, lists: ListQueries) -> ListPublic:
    return ListPublic.model_validate(
        {**static_list.model_dump(), "member_count": await lists.member_count(static_list.id)}
    )


def _added(plan: Additions, member_count: int) -> ListMembersAdded:
    return ListMembersAdded(
        added=plan.added,
        already_members=plan.already_members,
        unknown=plan.unknown,
        not_active=plan.not_active,
        member_count=member_count,
    )


@lists_router.post(
    "",
    status_code=201,
    response_model=ListCreated,
    dependencies=[require_permission("candidates:write")],
)
async def create_list(
    body: ListCreate,
    principal: CurrentPrincipal,
    lists: ListQueriesDep,
    commands: ListCommandsDep,
    request: Request,
    response: Response,
) -> ListCreated:
    """Creates a stored list, with the candidates given as its first members (emits
    `list.member_added` for each). Ids that are not your tenant's active candidates are
    reported under `members`, not added. An active list with the name already is a 409."""
    static_list = StaticList(
        tenant_id=principal.tenant_id,
        name=" ".join(body.name.split()),
        description=body.description,
        created_by=principal.user_id,
    )
    try:
        created, plan = await commands.create(static_list, _ids(body.candidate_ids))
    except DuplicateKeyInTenantError:
        raise _conflict(f"a list named {static_list.name!r} exists") from None
    public = await _public(created, lists)
    response.headers["Location"] = f"{request.url.path.rstrip('/')}/{created.id}"
    response.headers["ETag"] = etag_for(created.version)
    return ListCreated.model_validate(
        {**public.model_dump(), "members": _added(plan, public.member_count)}
    )


@lists_router.get(
    "",
    response_model=Page[ListPublic],
    dependencies=[require_permission("candidates:read"), Depends(reject_unknown_query_params)],
)
async def list_lists(
    lists: ListQueriesDep,
    include_archived: Annotated[bool, Query(description="Archived lists too.")] = False,
    limit: PageSize = 50,
    cursor: Cursor = None,
) -> Page[ListPublic]:
    """The tenant's stored lists in creation order with their member counts, a page at a time."""
    after = decode_cursor(cursor) if cursor else None
    found = await lists.page(include_archived=include_archived, after=after, limit=limit + 1)
    items, next_cursor = first_page_of(found, limit, lambda static_list: static_list.id)
    return Page[ListPublic](
        items=[await _public(item, lists) for item in items], next_cursor=next_cursor
    )


async def _list(lists: ListQueries, list_id: str) -> StaticList:
    static_list = await lists.get(list_id)
    if static_list is None:
        raise _not_found(list_id)
    return static_list


@lists_router.get(
    "/{list_id}", dependencies=[require_permission("candidates:read")], response_model=ListPublic
)
async def get_list(list_id: str, lists: ListQueriesDep, response: Response) -> ListPublic:
    """One stored list, archived or not, with its member count and its version as `ETag`."""
    static_list = await _list(lists, list_id)
    response.headers["ETag"] = etag_for(static_list.version)
    return await _public(static_list, lists)


@lists_router.patch(
    "/{list_id}", response_model=ListPublic, dependencies=[require_permission("candidates:write")]
)
async def update_list(
    list_id: str,
    body: ListUpdate,
    lists: ListQueriesDep,
    commands: ListCommandsDep,
    response: Response,
    if_match: IfMatch = None,
) -> ListPublic:
    """Renames a list or changes its description, made from the version `If-Match` names
    (428 without it, 412 if it changed meanwhile). An archived list is a 409; so is a name
    another active list has. Broadcasts name the list by id, so a rename changes none."""
    version = required_version(if_match)
    changes = body.model_dump(exclude_unset=True)
    if "name" in changes:
        if changes["name"] is None:
            raise validation_problem([FieldError("name", "cannot be null")], "name cannot be null")
        changes["name"] = " ".join(changes["name"].split())
    try:
        edited = await commands.edit(list_id, version, changes)
    except ListNotFoundError:
        raise _not_found(list_id) from None
    except StaleVersionError as stale:
        raise stale_version("list", list_id, stale.current, version) from None
    except ListArchivedError as archived:
        raise _conflict(str(archived)) from None
    except DuplicateKeyInTenantError:
        raise _conflict(f"a list named {changes.get('name')!r} exists") from None
    response.headers["ETag"] = etag_for(edited.version)
    return await _public(edited, lists)


@lists_router.delete(
    "/{list_id}", status_code=204, dependencies=[require_permission("candidates:write")]
)
async def archive_list(
    list_id: str, principal: CurrentPrincipal, lists: ListQueriesDep, commands: ListCommandsDep
) -> Response:
    """Archives a list (final; emits `list.archived`). It stays readable with its members,
    frozen: adding or removing members, or editing it, is a 409; its name is free for a new
    list. A broadcast to it that has not started sending is paused when its send comes (reason
    `list archived`), and new broadcasts to it are refused; one already sending goes on to the
    recipients it snapshotted. Archiving an archived list changes nothing."""
    static_list = await _list(lists, list_id)
    if static_list.archived_at is None:
        try:
            await commands.archive(list_id, by=principal.user_id)
        except ListArchivedError:
            pass  # archived meanwhile by someone else: the outcome asked for
        except StaleVersionError:
            raise _conflict(f"list {list_id} changed while archiving; try again") from None
    return Response(status_code=204)


@lists_router.post(
    "/{list_id}/members",
    response_model=ListMembersAdded,
    dependencies=[require_permission("candidates:write")],
)
async def add_list_members(
    list_id: str,
    body: ListMembersChange,
    principal: CurrentPrincipal,
    lists: ListQueriesDep,
    commands: ListCommandsDep,
) -> ListMembersAdded:
    """Adds candidates to the list (at most 1,000 ids a request; emits `list.member_added`
    for each one added). Every id is accounted for: added, already a member (unchanged, so
    repeating the request is harmless), unknown (not a candidate of your tenant) or not active
    (archived or merged). An archived list is a 409."""
    try:
        plan = await commands.add_members(list_id, _ids(body.candidate_ids), by=principal.user_id)
    except ListNotFoundError:
        raise _not_found(list_id) from None
    except ListArchivedError as archived:
        raise _conflict(str(archived)) from None
    return _added(plan, await lists.member_count(list_id))


@lists_router.delete(
    "/{list_id}/members",
    response_model=ListMembersRemoved,
    dependencies=[require_permission("candidates:write")],
)
async def remove_list_members(
    list_id: str,
    body: ListMembersChange,
    principal: CurrentPrincipal,
    lists: ListQueriesDep,
    commands: ListCommandsDep,
) -> ListMembersRemoved:
    """Takes candidates off the list (the ids in the body, at most 1,000; emits
    `list.member_removed` for each one removed). Every id is accounted for: removed, not a
    member, or unknown; repeating the request is harmless. An archived list is a 409."""
    try:
        plan = await commands.remove_members(
            list_id, _ids(body.candidate_ids), by=principal.user_id
        )
    except ListNotFoundError:
        raise _not_found(list_id) from None
    except ListArchivedError as archived:
        raise _conflict(str(archived)) from None
    return ListMembersRemoved(
        removed=plan.removed,
        not_members=plan.not_members,
        unknown=plan.unknown,
        member_count=await lists.member_count(list_id),
    )


@lists_router.get(
    "/{list_id}/members",
    response_model=Page[ListMemberListed],
    dependencies=[require_permission("candidates:read"), Depends(reject_unknown_query_params)],
)
async def list_list_members(
    list_id: str,
    lists: ListQueriesDep,
    limit: PageSize = 50,
    cursor: Cursor = None,
) -> Page[ListMemberListed]:
    """The list's members in candidate id order, a page at a time, each with what a list shows
    of the candidate (name, title, company, status)."""
    static_list = await _list(lists, list_id)
    after = decode_cursor(cursor) if cursor else None
    items, people, more = await lists.members(static_list.id, after=after, limit=limit)
    next_cursor = encode_cursor(items[-1].candidate_id) if more else None
    return Page[ListMemberListed](
        items=[
            ListMemberListed.model_validate(
                {
                    **member.model_dump(),
                    "candidate": (
                        CandidateSummary.model_validate(person.model_dump())
                        if (person := people.get(member.candidate_id))
                        else None
                    ),
                }
            )
            for member in items
        ],
        next_cursor=next_cursor,
    )
