"""Routes of broadcasts (one message to an audience) and reusable template blocks."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from crm_campaigns.api.deps import BlocksDep, BroadcastsDep, Container
from crm_campaigns.api.schemas import (
    AbTestPublic,
    BlockCreate,
    BlockPublic,
    BlockUpdate,
    BroadcastCreate,
    BroadcastProgress,
    BroadcastPublic,
    VariantResultPublic,
)
from crm_campaigns.application import broadcast_controls
from crm_campaigns.application.broadcast_book import BroadcastBook
from crm_campaigns.application.broadcasts import UNKNOWN_CANDIDATE
from crm_campaigns.application.library import BlockLibrary
from crm_campaigns.domain.broadcasts import queued_so_far, schedule_in_the_past, unmade_rest
from crm_campaigns.domain.lifecycle import BroadcastAction, broadcast_allows
from crm_campaigns.domain.models import (
    Block,
    Broadcast,
    MessageStatus,
    PoolAudience,
    SendAt,
    StoredListAudience,
)
from crm_campaigns.domain.pool_stages import stage_problem
from crm_campaigns.domain.templates import TemplateError, validate_template
from crm_shared import (
    MAX_PAGE_SIZE,
    CurrentPrincipal,
    FieldError,
    IfMatch,
    Page,
    Principal,
    ProblemError,
    Quotas,
    decode_cursor,
    etag_for,
    first_page_of,
    problem_responses,
    quota_exceeded,
    reject_unknown_query_params,
    require_permission,
    required_version,
    stale_version,
    utc_now,
    validation_problem,
)

router = APIRouter(
    # A misspelt filter (`?emial=`) is a 422 naming it, not a silently wider list.
    dependencies=[Depends(reject_unknown_query_params)]
)


def _not_found(kind: str, identifier: str) -> ProblemError:
    return ProblemError(404, f"no {kind} {identifier}", problem_type="not-found")


def _conflict(broadcast: Broadcast, action: str) -> ProblemError:
    return ProblemError(
        409,
        f"broadcast {broadcast.id} is {broadcast.status.value}; it cannot {action}",
        problem_type="conflict",
    )


async def _public(broadcasts: BroadcastBook, broadcast: Broadcast) -> BroadcastPublic:
    # Exact counts from the messages' states; the runner records candidates it skipped before
    # any message existed (unknown to campaigns) in the broadcast's stats.
    stats: dict[str, Any] = broadcast.stats
    tally = await broadcasts.tally(broadcast.id)
    skipped_reasons = dict(tally.skipped_reasons)
    for reason, count in (stats.get("skipped") or {}).items():
        if reason == UNKNOWN_CANDIDATE and count:
            skipped_reasons[reason] = int(count)
    rest = unmade_rest(broadcast, tally, skipped_reasons.get(UNKNOWN_CANDIDATE, 0))
    progress = BroadcastProgress(
        audience_size=broadcast.audience_size,
        queued=queued_so_far(broadcast, tally),
        awaiting_recipients=broadcast.awaiting_recipients,
        awaiting_winner=rest.awaiting_winner,
        unprepared=rest.unprepared,
        pending=tally.of(MessageStatus.QUEUED, MessageStatus.SENDING),
        sent=tally.of(MessageStatus.SENT),
        failed=tally.of(MessageStatus.FAILED),
        failed_reasons=tally.failure_reasons,
        skipped=sum(skipped_reasons.values()),
        skipped_reasons=skipped_reasons,
        held=tally.of(MessageStatus.HELD),
        cancelled=tally.of(MessageStatus.CANCELLED) + rest.cancelled,
    )
    ab_test = None
    if broadcast.ab_test is not None:
        results = await broadcasts.variant_results(broadcast)
        ab_test = AbTestPublic(
            **broadcast.ab_test.model_dump(),
            test_ends_at=broadcast.test_ends_at,
            winner=broadcast.winner,
            winner_decided_at=broadcast.winner_decided_at,
            results=[
                VariantResultPublic(
                    name=r.name,
                    subject=r.subject,
                    messages=r.messages,
                    sent=r.sent,
                    delivered=r.delivered,
                    opened=r.opened,
                    clicked=r.clicked,
                    open_rate=r.open_rate,
                    click_rate=r.click_rate,
                )
                for r in results
            ],
        )
    return BroadcastPublic(
        **broadcast.model_dump(
            include={
                "id",
                "name",
                "template_id",
                "audience",
                "schedule",
                "status",
                "pause_reason",
                "created_by",
                "created_at",
                "started_at",
                "completed_at",
                "version",
            }
        ),
        progress=progress,
        ab_test=ab_test,
    )


@router.post(
    "/broadcasts",
    dependencies=[require_permission("broadcasts:write")],
    status_code=201,
    response_model=BroadcastPublic,
    tags=["broadcasts"],
)
async def create_broadcast(
    body: BroadcastCreate,
    principal: CurrentPrincipal,
    broadcasts: BroadcastsDep,
    request: Request,
    response: Response,
) -> BroadcastPublic:
    """Creates a draft broadcast; `POST /broadcasts/{id}/send` starts it. A `stored_list`
    audience names a list of `/lists` (an archived one is a 422); its members are read when
    the send starts."""
    await _checked(body, broadcasts)
    broadcast = Broadcast(
        tenant_id=principal.tenant_id,
        created_by=principal.user_id,
        name=body.name,
        template_id=body.template_id,
        audience=body.audience,
        schedule=body.schedule,
        ab_test=body.ab_test,
    )
    await broadcasts.add(broadcast)
    response.headers["Location"] = f"{request.url.path.rstrip('/')}/{broadcast.id}"
    response.headers["ETag"] = etag_for(broadcast.version)
    return await _public(broadcasts, broadcast)


async def _checked(body: BroadcastCreate, broadcasts: BroadcastBook) -> None:
    """A 422 naming what is wrong with a broadcast's definition."""
    if (past := schedule_in_the_past(body.schedule, utc_now())) is not None:
        field = (
            "schedule.at.send_at"
            if isinstance(body.schedule, SendAt)
            else "schedule.local_time.date"
        )
        raise validation_problem([FieldError(field, past)], past)
    if await broadcasts.live_template(body.template_id) is None:
        raise validation_problem(
            [FieldError("template_id", "unknown template")],
            f"template {body.template_id} does not exist",
        )
    audience = body.audience
    if isinstance(audience, StoredListAudience) and await broadcasts.list_archived(
        audience.list_id
    ):
        raise validation_problem(
            [FieldError("audience.list_id", "archived list")],
            f"list {audience.list_id} is archived",
        )
    if isinstance(audience, PoolAudience):
        reason = stage_problem(await broadcasts.known_pool(audience.pool_id), audience.stage)
        if reason is not None:
            raise validation_problem([FieldError("audience.stage", reason)], reason)
    if body.ab_test is not None:
        names = [variant.name for variant in body.ab_test.variants]
        if len(set(names)) != len(names):
            raise validation_problem(
                [FieldError("ab_test.variants", "duplicate variant name")],
                "A/B variant names must be unique",
            )
        try:
            validate_template(
                {
                    f"ab_test.variants.{index}.subject": variant.subject
                    for index, variant in enumerate(body.ab_test.variants)
                },
                custom_fields=await broadcasts.custom_field_definitions(),
            )
        except TemplateError as error:
            raise validation_problem(
                [FieldError(part, message) for part, message in error.errors],
                f"an A/B subject is not valid: {error}",
            ) from None


@router.get(
    "/broadcasts",
    dependencies=[require_permission("broadcasts:read")],
    response_model=Page[BroadcastPublic],
    tags=["broadcasts"],
)
async def list_broadcasts(
    broadcasts: BroadcastsDep,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page")] = None,
) -> Page[BroadcastPublic]:
    """The tenant's broadcasts, oldest first, with their progress."""
    after = decode_cursor(cursor) if cursor else None
    found = await broadcasts.page(after=after, limit=limit + 1)
    items, next_cursor = first_page_of(found, limit, lambda broadcast: broadcast.id)
    return Page[BroadcastPublic](
        items=[await _public(broadcasts, b) for b in items], next_cursor=next_cursor
    )


async def _get(broadcasts: BroadcastBook, broadcast_id: str) -> Broadcast:
    broadcast = await broadcasts.get(broadcast_id)
    if broadcast is None:
        raise _not_found("broadcast", broadcast_id)
    return broadcast


@router.get(
    "/broadcasts/{broadcast_id}",
    dependencies=[require_permission("broadcasts:read")],
    response_model=BroadcastPublic,
    tags=["broadcasts"],
)
async def get_broadcast(
    broadcast_id: str, broadcasts: BroadcastsDep, response: Response
) -> BroadcastPublic:
    """One broadcast: status, progress (sent, failed, skipped with reasons) and A/B results,
    with its version as `ETag`."""
    broadcast = await _get(broadcasts, broadcast_id)
    response.headers["ETag"] = etag_for(broadcast.version)
    return await _public(broadcasts, broadcast)


@router.put(
    "/broadcasts/{broadcast_id}",
    dependencies=[require_permission("broadcasts:write")],
    response_model=BroadcastPublic,
    tags=["broadcasts"],
    responses=problem_responses(409),
)
async def replace_draft(
    broadcast_id: str,
    body: BroadcastCreate,
    broadcasts: BroadcastsDep,
    response: Response,
    if_match: IfMatch = None,
) -> BroadcastPublic:
    """Replaces a draft's name, template, audience, schedule and A/B test, made from the
    version `If-Match` names (428 without it, 412 if it changed meanwhile). Only a draft can
    change (409): once sent, a broadcast is the record of what went out."""
    version = required_version(if_match)
    current = await _get(broadcasts, broadcast_id)
    if not broadcast_allows(current.status, BroadcastAction.EDIT):
        raise _conflict(current, "change (only a draft can)")
    await _checked(body, broadcasts)
    edited = current.model_copy(
        update={
            "name": body.name,
            "template_id": body.template_id,
            "audience": body.audience,
            "schedule": body.schedule,
            "ab_test": body.ab_test,
        }
    )
    if not await broadcasts.replace_draft(edited, version):
        latest = await _get(broadcasts, broadcast_id)
        if not broadcast_allows(latest.status, BroadcastAction.EDIT):
            raise _conflict(latest, "change (only a draft can)")
        raise stale_version("broadcast", broadcast_id, latest.version, version)
    return await get_broadcast(broadcast_id, broadcasts, response)


@router.delete(
    "/broadcasts/{broadcast_id}",
    dependencies=[require_permission("broadcasts:write")],
    status_code=204,
    tags=["broadcasts"],
    responses=problem_responses(409),
)
async def delete_draft(broadcast_id: str, broadcasts: BroadcastsDep) -> Response:
    """Deletes a draft. A broadcast that was sent is kept as the record of what went out: 409
    (cancel it to stop what has not gone yet)."""
    current = await _get(broadcasts, broadcast_id)
    if not await broadcasts.delete_draft(broadcast_id):
        latest = await broadcasts.get(broadcast_id)
        raise _conflict(latest or current, "be deleted (only a draft can; cancel it instead)")
    return Response(status_code=204)


@router.post(
    "/broadcasts/{broadcast_id}/send",
    dependencies=[require_permission("broadcasts:write")],
    status_code=202,
    response_model=BroadcastPublic,
    tags=["broadcasts"],
    responses=problem_responses(
        409,
        429,
        s429="The tenant has as many broadcasts preparing or sending mail now as its quota allows "
        "(`too-many-broadcasts`, with `limit`); send when one has finished.",
    ),
)
async def send_broadcast(
    broadcast_id: str, broadcasts: BroadcastsDep, principal: CurrentPrincipal, container: Container
) -> BroadcastPublic:
    """Starts a draft: the audience is snapshotted now and the messages queued for their time."""
    broadcast = await _get(broadcasts, broadcast_id)
    # A tenant at its quota already is refused before anything changes: counted only after
    # the send, a runner could take the broadcast up in between and it would go ahead. The
    # count after the send settles two sends racing for the last place.
    if broadcast_allows(broadcast.status, BroadcastAction.SEND):
        limit = _concurrency_limit(principal, container)
        if await broadcasts.active_count() >= limit:
            raise _too_many_broadcasts(limit)
    if not await broadcasts.send(broadcast):
        raise _conflict(broadcast, "be sent again")
    await _check_concurrency(broadcasts, broadcast_id, principal, container)
    container.broadcasts_due.notify()
    return await _public(broadcasts, await _get(broadcasts, broadcast_id))


def _concurrency_limit(principal: Principal, container: Container) -> int:
    quotas: Quotas = container.quotas
    return quotas.limits_for(principal.tenant_id, principal.roles).max_concurrent_broadcasts


def _too_many_broadcasts(limit: int) -> ProblemError:
    return quota_exceeded(
        429,
        f"the tenant has {limit} broadcasts preparing or sending mail now, as many as its quota "
        "allows; send this one when one has finished (or pause one)",
        problem_type="too-many-broadcasts",
        limit_name="max_concurrent_broadcasts",
        limit=limit,
    )


async def _check_concurrency(
    broadcasts: BroadcastBook, broadcast_id: str, principal: Principal, container: Container
) -> None:
    """429, and the broadcast a draft again, if sending it took the tenant past its quota of
    broadcasts preparing or sending at once."""
    limit = _concurrency_limit(principal, container)
    if not await broadcasts.keep_within_concurrency_quota(broadcast_id, limit):
        raise _too_many_broadcasts(limit)


@router.post(
    "/broadcasts/{broadcast_id}/pause",
    dependencies=[require_permission("broadcasts:write")],
    response_model=BroadcastPublic,
    tags=["broadcasts"],
    responses=problem_responses(409),
)
async def pause_broadcast(
    broadcast_id: str, broadcasts: BroadcastsDep, container: Container
) -> BroadcastPublic:
    """Stops sending; queued messages are held until resumed."""
    broadcast = await _get(broadcasts, broadcast_id)
    if not await broadcast_controls.pause_broadcast(container.database, broadcast):
        raise _conflict(broadcast, "be paused")
    return await _public(broadcasts, await _get(broadcasts, broadcast_id))


@router.post(
    "/broadcasts/{broadcast_id}/resume",
    dependencies=[require_permission("broadcasts:write")],
    response_model=BroadcastPublic,
    tags=["broadcasts"],
    responses=problem_responses(
        409, 429, s429="Over the tenant's concurrent-broadcast quota (`too-many-broadcasts`)."
    ),
)
async def resume_broadcast(
    broadcast_id: str, broadcasts: BroadcastsDep, principal: CurrentPrincipal, container: Container
) -> BroadcastPublic:
    """Continues a paused broadcast with a fresh error-rate window."""
    broadcast = await _get(broadcasts, broadcast_id)
    if not broadcast_allows(broadcast.status, BroadcastAction.RESUME):
        raise _conflict(broadcast, "be resumed")
    # Checked before resuming (a paused broadcast does not count): two resumes racing for the
    # last place may both pass.
    limit = _concurrency_limit(principal, container)
    if await broadcasts.active_count() >= limit:
        raise _too_many_broadcasts(limit)
    if not await broadcasts.resume(broadcast):
        raise _conflict(broadcast, "be resumed")
    container.broadcasts_due.notify()
    container.messages_queued.notify()
    return await _public(broadcasts, await _get(broadcasts, broadcast_id))


@router.post(
    "/broadcasts/{broadcast_id}/cancel",
    dependencies=[require_permission("broadcasts:write")],
    response_model=BroadcastPublic,
    tags=["broadcasts"],
    responses=problem_responses(409),
)
async def cancel_broadcast(
    broadcast_id: str, broadcasts: BroadcastsDep, container: Container
) -> BroadcastPublic:
    """Stops a broadcast for good: nothing not yet sent will be."""
    broadcast = await _get(broadcasts, broadcast_id)
    if not broadcast_allows(broadcast.status, BroadcastAction.CANCEL):
        raise _conflict(broadcast, "be cancelled")
    if not await broadcasts.cancel(broadcast):
        raise _conflict(broadcast, "be cancelled (its state changed meanwhile)")
    return await _public(broadcasts, await _get(broadcasts, broadcast_id))


def _block_public(block: Block) -> BlockPublic:
    return BlockPublic.model_validate(block.model_dump())


async def _check_block(body: BlockCreate | BlockUpdate, blocks: BlockLibrary) -> None:
    try:
        validate_template(
            {"html": body.html, "text": body.text},
            custom_fields=await blocks.custom_field_definitions(),
        )
    except TemplateError as error:
        raise validation_problem(
            [FieldError(part, message) for part, message in error.errors],
            f"the block is not valid: {error}",
        ) from None


@router.post(
    "/blocks",
    dependencies=[require_permission("templates:write")],
    status_code=201,
    response_model=BlockPublic,
    tags=["templates"],
    responses=problem_responses(409),
)
async def create_block(
    body: BlockCreate,
    principal: CurrentPrincipal,
    blocks: BlocksDep,
    request: Request,
    response: Response,
) -> BlockPublic:
    """Saves a reusable block (merge fields allowed, other blocks not)."""
    await _check_block(body, blocks)
    block = Block(tenant_id=principal.tenant_id, created_by=principal.user_id, **body.model_dump())
    if not await blocks.add(block):
        raise ProblemError(409, f"a block {body.key} exists already", problem_type="conflict")
    response.headers["Location"] = f"{request.url.path.rstrip('/')}/{block.key}"
    return _block_public(block)


@router.get(
    "/blocks",
    dependencies=[require_permission("templates:read")],
    response_model=list[BlockPublic],
    tags=["templates"],
)
async def list_blocks(blocks: BlocksDep) -> list[BlockPublic]:
    """Every block of the caller's tenant."""
    return [_block_public(b) for b in await blocks.all()]


@router.get(
    "/blocks/{key}",
    dependencies=[require_permission("templates:read")],
    response_model=BlockPublic,
    tags=["templates"],
)
async def get_block(key: str, blocks: BlocksDep) -> BlockPublic:
    block = await blocks.get(key)
    if block is None:
        raise _not_found("block", key)
    return _block_public(block)


@router.delete(
    "/blocks/{key}",
    dependencies=[require_permission("templates:write")],
    status_code=204,
    tags=["templates"],
    responses=problem_responses(409),
)
async def delete_block(key: str, blocks: BlocksDep) -> Response:
    """Deletes a block no template (not archived) includes; a 409 names those that do. Mail
    already rendered with it is unchanged."""
    if await blocks.get(key) is None:
        raise _not_found("block", key)
    using = await blocks.templates_including(key)
    if using:
        raise ProblemError(
            409,
            f"block {key} is included by template {', '.join(repr(n) for n in using)}; "
            "change or archive those first",
            problem_type="conflict",
        )
    if not await blocks.delete(key):
        raise _not_found("block", key)
    return Response(status_code=204)


@router.put(
    "/blocks/{key}",
    dependencies=[require_permission("templates:write")],
    response_model=BlockPublic,
    tags=["templates"],
)
async def update_block(key: str, body: BlockUpdate, blocks: BlocksDep) -> BlockPublic:
    """Changes a block; every template including it uses the new content from now on."""
    await _check_block(body, blocks)
    if await blocks.get(key) is None:
        raise _not_found("block", key)
    block = await blocks.replace(key, body.model_dump() | {"updated_at": utc_now()})
    if block is None:
        raise _not_found("block", key)
    return _block_public(block)
