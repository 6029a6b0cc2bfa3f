"""Routes of identity resolution: duplicate suggestions, merges and their undo."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from crm_candidates.api.deps import IdentityQueriesDep, MergeWriterDep
from crm_candidates.api.routes import _not_found, _public
from crm_candidates.api.schemas import DuplicateSuggestion, MergeCreate, MergePublic
from crm_candidates.application.merges import MergeRefusedError, RecordNotFoundError
from crm_candidates.domain.identity import IdentityTakenError
from crm_candidates.domain.merging import MergeChoiceError, check_choices
from crm_candidates.domain.models import Merge
from crm_shared import (
    CurrentPrincipal,
    FieldError,
    ProblemError,
    problem_responses,
    reject_unknown_query_params,
    require_permission,
    validation_problem,
)

merges_router = APIRouter(prefix="/candidates/merges", tags=["identity"])
duplicates_router = APIRouter(tags=["identity"])


def _merge_public(merge: Merge) -> MergePublic:
    return MergePublic.model_validate(merge.model_dump())


def _refused(error: Exception) -> ProblemError:
    return ProblemError(409, str(error), problem_type="merge-refused")


@duplicates_router.get(
    "/candidates/{candidate_id}/duplicates",
    response_model=list[DuplicateSuggestion],
    dependencies=[require_permission("candidates:read"), Depends(reject_unknown_query_params)],
)
async def candidate_duplicates(
    candidate_id: str,
    identity: IdentityQueriesDep,
    min_score: Annotated[float, Query(ge=0, le=100, description="Lowest score to return.")] = 70,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> list[DuplicateSuggestion]:
    """Records that may be the same person as this one, best first, each with its reason.

    Only records sharing an indexed blocking key (last-name prefix or Soundex code) are
    compared, so the tenant is never scanned.
    """
    try:
        found = await identity.duplicates(candidate_id, min_score=min_score, limit=limit)
    except RecordNotFoundError as missing:
        raise _not_found(missing.kind, missing.record_id) from None
    return [
        DuplicateSuggestion(candidate=_public(suspect), score=alike.score, reason=alike.reason)
        for suspect, alike in found
    ]


@merges_router.post(
    "",
    dependencies=[require_permission("candidates:write")],
    status_code=201,
    response_model=MergePublic,
    responses=problem_responses(
        404, 409, s404="A candidate the body names does not exist (`not-found`)."
    ),
)
async def merge_candidates(
    body: MergeCreate,
    principal: CurrentPrincipal,
    merges: MergeWriterDep,
    request: Request,
    response: Response,
) -> MergePublic:
    """Folds one record into another; emits `candidate.merged` and `candidate.updated`.

    The merged record gets `status: merged` and `merged_into`, leaves every segment, and its
    identifiers resolve to the survivor. Undo with `POST /candidates/merges/{id}/undo`.
    """
    if body.survivor_id == body.merged_id:
        raise validation_problem(
            [FieldError("merged_id", "equals survivor_id")],
            "a record cannot be merged into itself",
        )
    try:
        check_choices(body.choices)
        merge = await merges.merge(
            body.survivor_id, body.merged_id, body.choices, user_id=principal.user_id
        )
    except MergeChoiceError as invalid:
        raise validation_problem(
            [FieldError(path, message) for path, message in invalid.errors],
            f"the field choices are not valid: {invalid}",
        ) from None
    except RecordNotFoundError as missing:
        raise _not_found(missing.kind, missing.record_id) from None
    except (MergeRefusedError, IdentityTakenError) as refused:
        raise _refused(refused) from None
    response.headers["Location"] = f"{request.url.path.rstrip('/')}/{merge.id}"
    return _merge_public(merge)


@merges_router.get(
    "/{merge_id}", dependencies=[require_permission("candidates:read")], response_model=MergePublic
)
async def get_merge(merge_id: str, identity: IdentityQueriesDep) -> MergePublic:
    """One merge of the caller's tenant, with the provenance of every merged value."""
    merge = await identity.merge(merge_id)
    if merge is None:
        raise _not_found("merge", merge_id)
    return _merge_public(merge)


@merges_router.post(
    "/{merge_id}/undo",
    dependencies=[require_permission("candidates:write")],
    response_model=MergePublic,
    responses=problem_responses(409),
)
async def undo_merge(
    merge_id: str, principal: CurrentPrincipal, merges: MergeWriterDep
) -> MergePublic:
    """Restores both records exactly as before the merge; emits `candidate.unmerged`."""
    try:
        merge = await merges.undo(merge_id, user_id=principal.user_id)
    except RecordNotFoundError as missing:
        raise _not_found(missing.kind, missing.record_id) from None
    except (MergeRefusedError, IdentityTakenError) as refused:
        raise _refused(refused) from None
    return _merge_public(merge)
