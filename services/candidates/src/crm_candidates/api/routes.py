"""Routes of the candidates API."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response

from crm_candidates.api.deps import (
    CandidateProfilesDep,
    CandidateQueriesDep,
    SegmentDefinitionsDep,
    SegmentQueriesDep,
)
from crm_candidates.api.schemas import (
    CandidateCreate,
    CandidatePublic,
    CandidateSegmentPublic,
    CandidatesTag,
    CandidatesTagged,
    CandidateUpdate,
    CandidateUpserted,
    SegmentCreate,
    SegmentPreview,
    SegmentPreviewRequest,
    SegmentPublic,
    SegmentUpdate,
    TimelineEntryPublic,
)
from crm_candidates.api.search import CandidateSort, decode_sort_cursor, encode_sort_cursor
from crm_candidates.application.candidates import (
    CandidateProfiles,
    CandidateQueries,
    InactiveCandidateError,
    StaleCandidateError,
)
from crm_candidates.application.segments import SegmentInUseError, SegmentQueries
from crm_candidates.domain.identity import (
    IdentityTakenError,
    identity_keys,
    place_query_words,
    query_spellings,
    query_tokens,
)
from crm_candidates.domain.models import (
    Candidate,
    CandidateSource,
    CandidateStatus,
    DuplicateKeyInTenantError,
    ProfileError,
    Segment,
    unique_in_order,
)
from crm_candidates.domain.pools import UnknownStageError
from crm_candidates.domain.profile import (
    SkillVocabulary,
    normalise_phone,
)
from crm_candidates.domain.search import SearchQuery, query_synonyms
from crm_candidates.domain.segments import (
    Group,
    RuleError,
    facet_value,
    time_dependent_segments,
)
from crm_shared import (
    MAX_PAGE_SIZE,
    CurrentPrincipal,
    FieldError,
    Page,
    ProblemError,
    decode_cursor,
    encode_cursor,
    first_page_of,
    problem_responses,
    reject_unknown_query_params,
    require_permission,
    validation_problem,
)

router = APIRouter(tags=["candidates"])
segments_router = APIRouter(prefix="/segments", tags=["segments"])

PageSize = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]
Cursor = Annotated[str | None, Query(description="`next_cursor` of the previous page")]


def _public(candidate: Candidate) -> CandidatePublic:
    return CandidatePublic.model_validate(candidate.model_dump())


def _identity_taken(error: IdentityTakenError) -> ProblemError:
    return ProblemError(
        409,
        "another candidate already holds one of these identifiers; merge the two records "
        "to join them",
        problem_type="duplicate-candidate",
        extensions={"existing_candidate_id": error.existing_id},
    )


def inactive_problem(inactive: InactiveCandidateError, advice: str) -> ProblemError:
    """The 409 problem, with what to do instead."""
    return ProblemError(
        409,
        f"{inactive}; {advice}",
        problem_type="candidate-not-active",
        extensions={"merged_into": inactive.candidate.merged_into},
    )


def _not_found(kind: str, identifier: str) -> ProblemError:
    return ProblemError(404, f"no {kind} {identifier}", problem_type="not-found")


def profile_problem(invalid: ProfileError, what: str = "profile fields") -> ProblemError:
    """A 422 problem naming each field that could not be normalised; `what` says what they
    belong to (a pool stage, a custom field), so the message names the right thing."""
    return validation_problem(
        [FieldError(path, reason) for path, reason in invalid.errors],
        f"invalid {what}: {', '.join(f'{path} ({message})' for path, message in invalid.errors)}",
    )


@router.post(
    "/candidates",
    dependencies=[require_permission("candidates:write")],
    status_code=201,
    response_model=CandidateUpserted,
    responses={
        200: {"model": CandidateUpserted, "description": "The person was on file."},
        **problem_responses(
            409, s409="Another candidate holds one of these identifiers (`duplicate-candidate`)."
        ),
    },
)
async def create_candidate(
    body: CandidateCreate,
    principal: CurrentPrincipal,
    profiles: CandidateProfilesDep,
    request: Request,
    response: Response,
) -> CandidateUpserted:
    """Creates a candidate (201, `candidate.created`), or finds the person already on file.

    Phones, profile URLs, skills, time zone, locale and custom fields are normalised (or
    refused with a 422 naming the field) before anything is stored. A person is recognised by
    any normalised email, phone or profile URL: then the answer is 200 with that record
    (`created: false`, `matched_on`) and its `Location`, and the new identifiers are added to it
    (`candidate.updated`). Identifiers another record holds are not added
    (`identifiers_left_out`); someone found by a number they share with another person alone
    is a new record (201) without it.
    """
    try:
        result = await profiles.create(
            body.model_dump(exclude={"default_region"}),
            default_region=body.default_region,
            tenant_id=principal.tenant_id,
            user_id=principal.user_id,
            owner_id=body.owner_id,
        )
    except ProfileError as invalid:
        raise profile_problem(invalid) from None
    except IdentityTakenError as taken:
        raise _identity_taken(taken) from None
    if not result.created:
        response.status_code = 200
    response.headers["Location"] = f"{request.url.path.rstrip('/')}/{result.candidate.id}"
    return CandidateUpserted.model_validate(
        {
            **_public(result.candidate).model_dump(),
            "created": result.created,
            "matched_on": result.matched_on,
            "identifiers_left_out": result.left_out,
        }
    )


@router.get(
    "/candidates/{candidate_id}",
    dependencies=[require_permission("candidates:read")],
    response_model=CandidatePublic,
)
async def get_candidate(
    candidate_id: str, candidates: CandidateQueriesDep, response: Response
) -> CandidatePublic:
    """One candidate of the caller's tenant (a merged record names its survivor), with its
    revision as `ETag` (send it as `If-Match` with a change)."""
    candidate = await candidates.get(candidate_id)
    if candidate is None:
        raise _not_found("candidate", candidate_id)
    response.headers["ETag"] = f'"{candidate.revision}"'
    return _public(candidate)


# Optional on a candidate, unlike on pools and lists: a change without it applies as before,
# so clients written before candidates had an `ETag` keep working.
CandidateIfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description='Optional: the `ETag` of the candidate as read (e.g. `"1764806400123"`); '
        "the change is then applied only if nobody changed the record since (412 otherwise).",
    ),
]


def _revision_named(if_match: str | None) -> str | None:
    """The revision an `If-Match` names; None for none or `*` (any)."""
    if if_match is None or if_match.strip() in ("", "*"):
        return None
    tag = if_match.strip().removeprefix("W/")
    if len(tag) < 2 or not (tag.startswith('"') and tag.endswith('"')):
        raise ProblemError(
            412,
            f"If-Match {if_match!r} is not an entity tag of this candidate",
            problem_type="precondition-failed",
        )
    return tag[1:-1]


@router.patch(
    "/candidates/{candidate_id}",
    dependencies=[require_permission("candidates:write")],
    response_model=CandidatePublic,
    responses=problem_responses(409),
)
async def update_candidate(
    candidate_id: str,
    body: CandidateUpdate,
    profiles: CandidateProfilesDep,
    response: Response,
    if_match: CandidateIfMatch = None,
) -> CandidatePublic:
    """Changes the fields sent; emits `candidate.updated` and any segment entries and exits.
    With `If-Match`, a record changed since it was read is refused (412) and left as it is."""
    changes = body.model_dump(exclude_unset=True, exclude={"default_region"})
    try:
        changed = await profiles.change(
            candidate_id,
            changes,
            default_region=body.default_region,
            revision=_revision_named(if_match),
        )
    except StaleCandidateError as stale:
        raise ProblemError(
            412,
            f"candidate {candidate_id} was changed by someone else since it was read; read it "
            "again and reapply the change",
            problem_type="precondition-failed",
            headers={"ETag": f'"{stale.candidate.revision}"'},
        ) from None
    except ProfileError as invalid:
        raise profile_problem(invalid) from None
    except IdentityTakenError as taken:
        raise _identity_taken(taken) from None
    except InactiveCandidateError as inactive:
        raise inactive_problem(inactive, "change its survivor instead") from None
    if changed is None:
        raise _not_found("candidate", candidate_id)
    response.headers["ETag"] = f'"{changed.revision}"'
    return _public(changed)


@router.post(
    "/candidates/tags",
    dependencies=[require_permission("candidates:write")],
    response_model=CandidatesTagged,
)
async def tag_candidates(body: CandidatesTag, profiles: CandidateProfilesDep) -> CandidatesTagged:
    """Adds tags to a selection of candidates (at most 200), each a change of its own
    (`candidate.updated`, segment entries and exits). A tag a candidate holds already (ignoring
    case and spacing) is not added twice, so repeating the request is harmless. Every id is
    accounted for: tagged, holding every tag already, unknown, or not active."""
    outcome = await profiles.tag(body.candidate_ids, body.tags)
    return CandidatesTagged(
        tagged=outcome.tagged,
        already_tagged=outcome.already_tagged,
        unknown=outcome.unknown,
        not_active=outcome.not_active,
    )


@router.delete(
    "/candidates/{candidate_id}",
    dependencies=[require_permission("candidates:write")],
    status_code=204,
)
async def archive_candidate(candidate_id: str, profiles: CandidateProfilesDep) -> Response:
    """Archives a candidate (deleting outside GDPR erasure): the record leaves lists, search
    and segments (`segment.exited`) and gets no marketing mail, and keeps everything, so
    `POST /candidates/{id}/restore` brings it back. Archiving again changes nothing; a merged
    record is a 409. Erasing a person's data is `POST /candidates/{id}/erasure` (`gdpr:write`)."""
    await _set_status(candidate_id, CandidateStatus.ARCHIVED, profiles)
    return Response(status_code=204)


@router.post(
    "/candidates/{candidate_id}/restore",
    dependencies=[require_permission("candidates:write")],
    response_model=CandidatePublic,
)
async def restore_candidate(candidate_id: str, profiles: CandidateProfilesDep) -> CandidatePublic:
    """Brings an archived candidate back: lists, search, segments and mail as before."""
    return _public(await _set_status(candidate_id, CandidateStatus.ACTIVE, profiles))


async def _set_status(
    candidate_id: str, status: CandidateStatus, profiles: CandidateProfiles
) -> Candidate:
    try:
        changed = await profiles.set_status(candidate_id, status)
    except InactiveCandidateError as merged:
        raise inactive_problem(merged, "archive or restore its survivor instead") from None
    if changed is None:
        raise _not_found("candidate", candidate_id)
    return changed


def _lookup_problem(field: str, detail: str) -> ProblemError:
    return validation_problem(
        [FieldError.query(field, detail)], f"invalid query parameter {field}: {detail}"
    )


async def _lookup_keys(
    email: str | None, phone: str | None, q: str, candidates: CandidateQueries
) -> list[str] | None:
    """The identity keys an exact lookup names (`email`, `phone`, addresses in `q`), if any."""
    emails = [word for word in q.split() if "@" in word]
    if email is not None:
        if "@" not in email:
            raise _lookup_problem("email", f"{email!r} is not an e-mail address")
        emails.append(email)
    keys = identity_keys(emails)
    if phone is not None:
        region = await candidates.default_phone_region()
        try:
            e164 = normalise_phone(phone, region)
        except ValueError as invalid:
            raise _lookup_problem("phone", str(invalid)) from None
        keys.extend(identity_keys([], [e164]))
    return keys if emails or phone is not None else None


@router.get(
    "/candidates",
    response_model=Page[CandidatePublic],
    dependencies=[require_permission("candidates:read"), Depends(reject_unknown_query_params)],
)
async def list_candidates(
    candidates: CandidateQueriesDep,
    q: Annotated[
        str | None,
        Query(
            max_length=200,
            description="Keywords over name, title, company and skills; every word must match "
            "a word of the candidate or its beginning (accents and case ignored). A word that "
            "spells a skill of the tenant's vocabulary (`js`) also finds its canonical skill "
            "(`javascript`). A word with an `@` is an e-mail address the candidate must hold "
            "(exact, case ignored).",
        ),
    ] = None,
    email: Annotated[
        str | None,
        Query(
            max_length=320,
            description="Holds this e-mail address (exact, case and surrounding spaces ignored).",
        ),
    ] = None,
    phone: Annotated[
        str | None,
        Query(
            max_length=40,
            description="Holds this phone number, compared in E.164: `+49 151 2345678`, "
            "`0049-151-2345678`; a number without country code is read in the tenant's default "
            "phone region.",
        ),
    ] = None,
    tag: Annotated[
        list[str],
        Query(description="Has every one of these tags (ignoring case and spacing, as segments)."),
    ] = [],  # noqa: B006
    skill: Annotated[list[str], Query(description="Has every one of these skills.")] = [],  # noqa: B006
    source: CandidateSource | None = None,
    owner_id: str | None = None,
    location: Annotated[
        str | None,
        Query(
            max_length=200,
            description="Lives in a place whose name holds these words, ignoring case, accents "
            "and punctuation: `montreal` finds Montréal, `berlin` finds Berlin, Germany.",
        ),
    ] = None,
    pool_id: Annotated[
        str | None, Query(max_length=64, description="Is in this talent pool.")
    ] = None,
    stage: Annotated[
        str | None,
        Query(
            max_length=100,
            description="At this stage of the pool `pool_id` names (matched ignoring case and "
            "spacing; a stage the pool does not have is a 422).",
        ),
    ] = None,
    segment_id: Annotated[
        str | None, Query(max_length=64, description="Is a member of this segment now.")
    ] = None,
    marketing_consent: Annotated[
        bool | None, Query(description="Has (true) or has not (false) marketing consent.")
    ] = None,
    min_engagement: Annotated[
        float | None, Query(ge=0, description="Engagement score at least this.")
    ] = None,
    sort: Annotated[
        CandidateSort,
        Query(
            description="`created_at` (oldest first, the default), `-created_at` (newest "
            "first), `updated_at` (least recently changed first), `-updated_at` (most "
            "recently changed first) or `name` (by last name).",
        ),
    ] = CandidateSort.CREATED_AT,
    limit: PageSize = 50,
    cursor: Cursor = None,
) -> Page[CandidatePublic]:
    """The caller's active candidates, searched and filtered, one page at a time.

    An unknown query parameter is a 422, so a misspelt filter never lists everyone.
    """
    if stage is not None and pool_id is None:
        raise validation_problem(
            [FieldError.query("stage", "needs pool_id")],
            "a stage is searched within a pool: give pool_id too",
        )
    if stage is not None and pool_id is not None:
        try:
            stage = await candidates.pool_stage(pool_id, stage)
        except UnknownStageError as unknown:
            raise validation_problem(
                [FieldError.query("stage", str(unknown))], str(unknown)
            ) from None
    text = q or ""
    keys = await _lookup_keys(email, phone, text, candidates)
    words = " ".join(word for word in text.split() if "@" not in word)
    tokens = query_tokens(words)
    place = place_query_words(location)
    if (keys is None and not tokens and text.strip()) or ((location or "").strip() and not place):
        # Only signs no word is made of (`-`, `😀`): nothing can match them, and listing
        # everyone would answer a search with unrelated people.
        return Page[CandidatePublic](items=[], next_cursor=None)
    # A tenant's skill vocabulary is read (one small document, the vocabulary cached by
    # version) only when the search names a skill or a word that could spell one.
    vocabulary = await candidates.skill_vocabulary() if skill or tokens else SkillVocabulary()
    search = SearchQuery(
        tokens=tokens,
        spellings=query_spellings(words),
        synonyms=query_synonyms(tokens, vocabulary),
        # Matched as segments match them: ignoring case and spacing (`facets.tags`).
        tags=unique_in_order([facet_value(t) for t in tag if t.strip()]),
        skills=vocabulary.normalise(skill),
        source=source.value if source else None,
        owner_id=owner_id,
        sort=sort.value,
        after=decode_sort_cursor(cursor, sort) if cursor else None,
        limit=limit + 1,
        candidate_ids=None if keys is None else await candidates.holding_all(keys),
        location=place,
        pool_id=pool_id,
        stage=stage,
        segment_id=segment_id,
        marketing_consent=marketing_consent,
        min_engagement=min_engagement,
    )
    found = await candidates.search(search)
    items = found[:limit]
    next_cursor = encode_sort_cursor(items[-1], sort) if len(found) > limit else None
    return Page[CandidatePublic](items=[_public(c) for c in items], next_cursor=next_cursor)


@router.get(
    "/candidates/{candidate_id}/timeline",
    response_model=Page[TimelineEntryPublic],
    dependencies=[require_permission("candidates:read"), Depends(reject_unknown_query_params)],
)
async def candidate_timeline(
    candidate_id: str,
    candidates: CandidateQueriesDep,
    limit: PageSize = 50,
    cursor: Cursor = None,
) -> Page[TimelineEntryPublic]:
    """What happened with the candidate across every service, newest first."""
    if await candidates.get(candidate_id) is None:
        raise _not_found("candidate", candidate_id)
    before = decode_cursor(cursor) if cursor else None
    found = await candidates.timeline_page(candidate_id, before=before, limit=limit + 1)
    items, next_cursor = first_page_of(found, limit, lambda entry: entry.sort_key)
    return Page[TimelineEntryPublic](
        items=[TimelineEntryPublic.model_validate(entry.model_dump()) for entry in items],
        next_cursor=next_cursor,
    )


@router.get(
    "/candidates/{candidate_id}/segments",
    response_model=list[CandidateSegmentPublic],
    dependencies=[require_permission("segments:read"), Depends(reject_unknown_query_params)],
    responses=problem_responses(404),
)
async def candidate_segments(
    candidate_id: str, candidates: CandidateQueriesDep, segments: SegmentQueriesDep
) -> list[CandidateSegmentPublic]:
    """The segments the candidate is a member of now, by name, with when it entered each."""
    if await candidates.get(candidate_id) is None:
        raise _not_found("candidate", candidate_id)
    return [
        CandidateSegmentPublic(id=segment.id, name=segment.name, entered_at=entered_at)
        for segment, entered_at in await segments.of_candidate(candidate_id)
    ]


def _rule_problem(errors: list[tuple[str, str]]) -> ProblemError:
    summary = "; ".join(f"{path}: {message}" for path, message in errors)
    return validation_problem(
        [FieldError(path, message) for path, message in errors],
        f"the segment rule is not valid: {summary}",
    )


def _refused_rule(invalid: RuleError) -> ProblemError:
    return _rule_problem(invalid.errors)


def _name_taken(name: str) -> ProblemError:
    """A 409 at the name: another segment has it (case and spacing aside)."""
    detail = f"a segment named {name!r} exists; choose another name"
    return ProblemError(
        409,
        detail,
        problem_type="conflict",
        extensions={"errors": [FieldError("name", detail).entry()]},
    )


async def _time_dependent(segments: SegmentQueries) -> set[str]:
    """The tenant's segments that change with time alone, references followed."""
    return time_dependent_segments(
        {segment.id: Group.model_validate(segment.rule) for segment in await segments.all()}
    )


async def _segment_public(
    segment: Segment, segments: SegmentQueries, time_dependent: set[str] | None = None
) -> SegmentPublic:
    if time_dependent is None:
        time_dependent = await _time_dependent(segments)
    return SegmentPublic.model_validate(
        {
            **segment.model_dump(),
            "member_count": await segments.member_count(segment.id),
            "time_dependent": segment.id in time_dependent,
        }
    )


@segments_router.post(
    "/preview", dependencies=[require_permission("segments:read")], response_model=SegmentPreview
)
async def preview_segment(
    body: SegmentPreviewRequest, segments: SegmentQueriesDep, definitions: SegmentDefinitionsDep
) -> SegmentPreview:
    """How many of the caller's active candidates a rule matches now, with a sample; given
    the segment being edited, a reference back to it is refused as its save would be."""
    try:
        rule = await definitions.valid_rule(body.rule, body.segment_id or "")
    except RuleError as invalid:
        raise _refused_rule(invalid) from None
    count, sample = await segments.preview(rule, body.sample_size)
    return SegmentPreview(count=count, sample=[_public(c) for c in sample])


@segments_router.post(
    "",
    dependencies=[require_permission("segments:write")],
    status_code=201,
    response_model=SegmentPublic,
    responses=problem_responses(409),
)
async def create_segment(
    body: SegmentCreate,
    principal: CurrentPrincipal,
    segments: SegmentQueriesDep,
    definitions: SegmentDefinitionsDep,
    request: Request,
    response: Response,
) -> SegmentPublic:
    """Creates a dynamic segment and starts its first full evaluation in the background; a
    name another segment of the tenant has (case and spacing aside) is a 409 at `name`."""
    try:
        segment = await definitions.create(
            tenant_id=principal.tenant_id,
            name=body.name,
            raw_rule=body.rule,
            by=principal.user_id,
        )
    except RuleError as invalid:
        raise _refused_rule(invalid) from None
    except DuplicateKeyInTenantError:
        raise _name_taken(body.name) from None
    response.headers["Location"] = f"{request.url.path.rstrip('/')}/{segment.id}"
    return await _segment_public(segment, segments)


@segments_router.patch(
    "/{segment_id}",
    dependencies=[require_permission("segments:write")],
    response_model=SegmentPublic,
    responses=problem_responses(409),
)
async def update_segment(
    segment_id: str,
    body: SegmentUpdate,
    segments: SegmentQueriesDep,
    definitions: SegmentDefinitionsDep,
) -> SegmentPublic:
    """Renames a segment or changes its rule; a new rule recomputes the membership in the
    background, emitting `segment.entered` / `segment.exited` for each difference. A name
    another segment has is a 409 at `name`."""
    segment = await segments.get(segment_id)
    if segment is None:
        raise _not_found("segment", segment_id)
    try:
        changed = await definitions.redefine(segment, name=body.name, raw_rule=body.rule)
    except RuleError as invalid:
        raise _refused_rule(invalid) from None
    except DuplicateKeyInTenantError:
        raise _name_taken(body.name or segment.name) from None
    return await _segment_public(changed, segments)


@segments_router.get(
    "",
    dependencies=[require_permission("segments:read"), Depends(reject_unknown_query_params)],
    response_model=list[SegmentPublic],
)
async def list_segments(segments: SegmentQueriesDep) -> list[SegmentPublic]:
    """Every segment of the caller's tenant."""
    every = await segments.all()
    time_dependent = time_dependent_segments(
        {segment.id: Group.model_validate(segment.rule) for segment in every}
    )
    return [await _segment_public(segment, segments, time_dependent) for segment in every]


@segments_router.delete(
    "/{segment_id}",
    dependencies=[require_permission("segments:write")],
    status_code=204,
    responses=problem_responses(409),
)
async def delete_segment(
    segment_id: str, segments: SegmentQueriesDep, definitions: SegmentDefinitionsDep
) -> Response:
    """Deletes a segment nothing uses: it leaves lists and evaluations at once, and its members
    exit (`segment.exited`) in the background. A segment that another segment's rule or a live
    sequence's trigger uses is a 409 naming them: change or archive those first."""
    if await segments.get(segment_id) is None:
        raise _not_found("segment", segment_id)
    try:
        deleted = await definitions.delete(segment_id)
    except SegmentInUseError as in_use:
        raise ProblemError(
            409,
            str(in_use),
            problem_type="conflict",
            extensions={"used_by": {"segments": in_use.segments, "sequences": in_use.sequences}},
        ) from None
    if deleted is None:
        raise _not_found("segment", segment_id)
    return Response(status_code=204)


@segments_router.get(
    "/{segment_id}",
    dependencies=[require_permission("segments:read")],
    response_model=SegmentPublic,
)
async def get_segment(segment_id: str, segments: SegmentQueriesDep) -> SegmentPublic:
    """One segment with its current member count."""
    segment = await segments.get(segment_id)
    if segment is None:
        raise _not_found("segment", segment_id)
    return await _segment_public(segment, segments)


@segments_router.get(
    "/{segment_id}/members",
    response_model=Page[CandidatePublic],
    dependencies=[require_permission("segments:read"), Depends(reject_unknown_query_params)],
)
async def segment_members(
    segment_id: str,
    segments: SegmentQueriesDep,
    limit: PageSize = 50,
    cursor: Cursor = None,
) -> Page[CandidatePublic]:
    """The segment's current members, one page at a time."""
    if await segments.get(segment_id) is None:
        raise _not_found("segment", segment_id)
    after = decode_cursor(cursor) if cursor else None
    members, last = await segments.members(segment_id, after=after, limit=limit)
    next_cursor = encode_cursor(last) if last is not None else None
    return Page[CandidatePublic](items=[_public(c) for c in members], next_cursor=next_cursor)
