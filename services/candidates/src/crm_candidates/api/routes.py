"""Routes of the candidates API."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from crm_candidates.api.schemas import CandidateCreate, CandidatePublic
from crm_candidates.domain.models import (
    Candidate,
    normalise_email,
    normalise_skill,
    unique_in_order,
)
from crm_candidates.publishers import to_candidate_created
from crm_candidates.repository import CandidatesRepo, DuplicateEmailError
from crm_shared import (
    MAX_PAGE_SIZE,
    CurrentPrincipal,
    Page,
    Platform,
    ProblemError,
    Session,
    decode_cursor,
    encode_cursor,
    in_transaction,
)

router = APIRouter(prefix="/candidates", tags=["candidates"])


def _public(candidate: Candidate) -> CandidatePublic:
    return CandidatePublic.model_validate(candidate.model_dump())


@router.post("", status_code=201, response_model=CandidatePublic)
async def create_candidate(
    body: CandidateCreate,
    principal: CurrentPrincipal,
    candidates: CandidatesRepo,
    request: Request,
    response: Response,
) -> CandidatePublic:
    """Creates a candidate and emits `candidate.created`; an email already on file is a 409."""
    platform: Platform = request.app.state.platform
    outbox = platform.require_outbox()
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
    )

    async def store(session: Session) -> None:
        await candidates.add(candidate, session=session)
        await to_candidate_created(outbox, candidate, session=session)

    try:
        await in_transaction(platform.require_mongo(), store)
    except DuplicateEmailError as duplicate:
        raise ProblemError(
            409,
            "a candidate with one of these email addresses already exists",
            problem_type="duplicate-candidate",
            extensions={"existing_candidate_id": duplicate.existing_id},
        ) from None
    outbox.notify_committed()
    response.headers["Location"] = f"{request.url.path.rstrip('/')}/{candidate.id}"
    return _public(candidate)


@router.get("/{candidate_id}", response_model=CandidatePublic)
async def get_candidate(candidate_id: str, candidates: CandidatesRepo) -> CandidatePublic:
    """One candidate of the caller's tenant."""
    candidate = await candidates.get(candidate_id)
    if candidate is None:
        raise ProblemError(404, f"no candidate {candidate_id}", problem_type="not-found")
    return _public(candidate)


@router.get("", response_model=Page[CandidatePublic])
async def list_candidates(
    candidates: CandidatesRepo,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page")] = None,
) -> Page[CandidatePublic]:
    """The caller's candidates in creation order, one page at a time."""
    after = decode_cursor(cursor) if cursor else None
    found = await candidates.page(after=after, limit=limit + 1)
    items = found[:limit]
    next_cursor = encode_cursor(items[-1].id) if len(found) > limit else None
    return Page[CandidatePublic](items=[_public(c) for c in items], next_cursor=next_cursor)
