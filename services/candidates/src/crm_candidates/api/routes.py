"""Routes of the candidates API."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from crm_candidates.api.schemas import (
    CandidateCreate,
    CandidatePublic,
    CandidateUpdate,
    SegmentCreate,
    SegmentPreview,
    SegmentPreviewRequest,
    SegmentPublic,
)
from crm_candidates.commands import CandidateWriter, SegmentJobs
from crm_candidates.domain.models import (
    Candidate,
    Segment,
    normalise_skill,
    unique_in_order,
)
from crm_candidates.domain.segments import Group, RuleError, compile_rule, parse_rule
from crm_candidates.repository import (
    CandidatesRepo,
    DuplicateEmailError,
    SegmentRepository,
    SegmentsRepo,
)
from crm_shared import (
    MAX_PAGE_SIZE,
    CurrentPrincipal,
    Page,
    Platform,
    ProblemError,
    decode_cursor,
    encode_cursor,
    normalise_email,
    utc_now,
)

router = APIRouter(tags=["candidates"])
segments_router = APIRouter(prefix="/segments", tags=["segments"])

PageSize = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]
Cursor = Annotated[str | None, Query(description="`next_cursor` of the previous page")]


def candidate_writer(
    request: Request, candidates: CandidatesRepo, segments: SegmentsRepo
) -> CandidateWriter:
    """FastAPI dependency: the writer of the caller's tenant's candidates."""
    platform: Platform = request.app.state.platform
    return CandidateWriter(
        platform.require_mongo(), platform.require_outbox(), candidates, segments
    )


Writer = Annotated[CandidateWriter, Depends(candidate_writer)]


def _public(candidate: Candidate) -> CandidatePublic:
    return CandidatePublic.model_validate(candidate.model_dump())


def _duplicate(error: DuplicateEmailError) -> ProblemError:
    return ProblemError(
        409,
        "a candidate with one of these email addresses already exists",
        problem_type="duplicate-candidate",
        extensions={"existing_candidate_id": error.existing_id},
    )


def _not_found(kind: str, identifier: str) -> ProblemError:
    return ProblemError(404, f"no {kind} {identifier}", problem_type="not-found")


@router.post("/candidates", status_code=201, response_model=CandidatePublic)
async def create_candidate(
    body: CandidateCreate,
    principal: CurrentPrincipal,
    writer: Writer,
    request: Request,
    response: Response,
) -> CandidatePublic:
    """Creates a candidate and emits `candidate.created`; an email already on file is a 409."""
    candidate = Candidate(
        tenant_id=principal.tenant_id,
        created_by=principal.user_id,
        first_name=body.first_name,
        last_name=body.last_name,
        emails=unique_in_order([normalise_email(email) for email in body.emails]),
        phones=unique_in_order(body.phones),
        headline=body.headline,
        current_title=body.current_title,
        current_company=body.current_company,
        location=body.location,
        skills=unique_in_order([normalise_skill(skill) for skill in body.skills]),
        tags=unique_in_order(body.tags),
        source=body.source,
        owner_id=body.owner_id or principal.user_id,
        marketing_consent=body.marketing_consent,
    )
    try:
        await writer.create(candidate)
    except DuplicateEmailError as duplicate:
        raise _duplicate(duplicate) from None
    response.headers["Location"] = f"{request.url.path.rstrip('/')}/{candidate.id}"
    return _public(candidate)


@router.get("/candidates/{candidate_id}", response_model=CandidatePublic)
async def get_candidate(candidate_id: str, candidates: CandidatesRepo) -> CandidatePublic:
    """One candidate of the caller's tenant."""
    candidate = await candidates.get(candidate_id)
    if candidate is None:
        raise _not_found("candidate", candidate_id)
    return _public(candidate)


@router.patch("/candidates/{candidate_id}", response_model=CandidatePublic)
async def update_candidate(
    candidate_id: str, body: CandidateUpdate, candidates: CandidatesRepo, writer: Writer
) -> CandidatePublic:
    """Changes the fields sent; emits `candidate.updated` and any segment entries and exits."""
    candidate = await candidates.get(candidate_id)
    if candidate is None:
        raise _not_found("candidate", candidate_id)
    changes = body.model_dump(exclude_unset=True)
    if "emails" in changes:
        changes["emails"] = unique_in_order([normalise_email(e) for e in changes["emails"]])
    if "skills" in changes:
        changes["skills"] = unique_in_order([normalise_skill(s) for s in changes["skills"]])
    for listed in ("phones", "tags"):
        if listed in changes:
            changes[listed] = unique_in_order(changes[listed])
    nullable = {"headline", "current_title", "current_company", "location", "owner_id"}
    for name, value in list(changes.items()):
        if value is None and name not in nullable:
            raise ProblemError(
                422,
                f"{name} cannot be null",
                problem_type="validation-error",
                extensions={"errors": [{"field": name, "detail": "cannot be null"}]},
            )
    changed = candidate.model_copy(update={**changes, "updated_at": utc_now()})
    try:
        await writer.update(changed)
    except DuplicateEmailError as duplicate:
        raise _duplicate(duplicate) from None
    return _public(changed)


@router.get("/candidates", response_model=Page[CandidatePublic])
async def list_candidates(
    candidates: CandidatesRepo, limit: PageSize = 50, cursor: Cursor = None
) -> Page[CandidatePublic]:
    """The caller's candidates in creation order, one page at a time."""
    after = decode_cursor(cursor) if cursor else None
    found = await candidates.page(after=after, limit=limit + 1)
    items = found[:limit]
    next_cursor = encode_cursor(items[-1].id) if len(found) > limit else None
    return Page[CandidatePublic](items=[_public(c) for c in items], next_cursor=next_cursor)


def _valid_rule(raw: dict[str, Any]) -> Group:
    try:
        return parse_rule(raw)
    except RuleError as invalid:
        raise ProblemError(
            422,
            f"the segment rule is not valid: {invalid}",
            title="Request validation failed",
            problem_type="validation-error",
            extensions={
                "errors": [{"field": path, "detail": message} for path, message in invalid.errors]
            },
        ) from None


async def _segment_public(segment: Segment, segments: SegmentRepository) -> SegmentPublic:
    return SegmentPublic.model_validate(
        {**segment.model_dump(), "member_count": await segments.member_count(segment.id)}
    )


@segments_router.post("/preview", response_model=SegmentPreview)
async def preview_segment(
    body: SegmentPreviewRequest, candidates: CandidatesRepo
) -> SegmentPreview:
    """How many of the caller's candidates a rule matches now, with a sample."""
    query = compile_rule(_valid_rule(body.rule))
    count = await candidates.count_matching(query)
    sample = await candidates.sample_matching(query, body.sample_size)
    return SegmentPreview(count=count, sample=[_public(c) for c in sample])


@segments_router.post("", status_code=201, response_model=SegmentPublic)
async def create_segment(
    body: SegmentCreate,
    principal: CurrentPrincipal,
    segments: SegmentsRepo,
    request: Request,
    response: Response,
) -> SegmentPublic:
    """Creates a dynamic segment and starts its first full evaluation in the background."""
    rule = _valid_rule(body.rule)
    segment = Segment(
        tenant_id=principal.tenant_id,
        name=body.name,
        rule=rule.model_dump(mode="json", exclude_none=True),
        created_by=principal.user_id,
    )
    await segments.add(segment)
    jobs: SegmentJobs = request.app.state.segment_jobs
    jobs.schedule(segment)
    response.headers["Location"] = f"{request.url.path.rstrip('/')}/{segment.id}"
    return await _segment_public(segment, segments)


@segments_router.get("", response_model=list[SegmentPublic])
async def list_segments(segments: SegmentsRepo) -> list[SegmentPublic]:
    """Every segment of the caller's tenant."""
    return [await _segment_public(segment, segments) for segment in await segments.all()]


@segments_router.get("/{segment_id}", response_model=SegmentPublic)
async def get_segment(segment_id: str, segments: SegmentsRepo) -> SegmentPublic:
    """One segment with its current member count."""
    segment = await segments.get(segment_id)
    if segment is None:
        raise _not_found("segment", segment_id)
    return await _segment_public(segment, segments)


@segments_router.get("/{segment_id}/members", response_model=Page[CandidatePublic])
async def segment_members(
    segment_id: str,
    segments: SegmentsRepo,
    candidates: CandidatesRepo,
    limit: PageSize = 50,
    cursor: Cursor = None,
) -> Page[CandidatePublic]:
    """The segment's current members, one page at a time."""
    if await segments.get(segment_id) is None:
        raise _not_found("segment", segment_id)
    after = decode_cursor(cursor) if cursor else None
    ids = await segments.member_ids(segment_id, after=after, limit=limit + 1)
    page_ids = ids[:limit]
    members = [c for c in [await candidates.get(i) for i in page_ids] if c is not None]
    next_cursor = encode_cursor(page_ids[-1]) if len(ids) > limit else None
    return Page[CandidatePublic](items=[_public(c) for c in members], next_cursor=next_cursor)
