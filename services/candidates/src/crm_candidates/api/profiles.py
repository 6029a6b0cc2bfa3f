"""Routes of profile configuration (phone region, skill vocabulary, custom fields), notes and
talent pools."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import ValidationError

from crm_candidates.api.deps import (
    CandidateNotesDep,
    PoolCommandsDep,
    PoolDefinitionsDep,
    ProfileConfigurationDep,
)
from crm_candidates.api.routes import Cursor, PageSize, inactive_problem, profile_problem
from crm_candidates.api.schemas import (
    CandidateSummary,
    CustomFieldCreate,
    CustomFieldPublic,
    CustomFieldUpdate,
    NoteCreate,
    NotePublic,
    PoolCreate,
    PoolMemberAdd,
    PoolMemberDetail,
    PoolMemberListed,
    PoolMemberPublic,
    PoolMembersAdd,
    PoolMembersAdded,
    PoolPublic,
    PoolUpdate,
    ProfileSettings,
    SkillEntry,
    SkillRenormalisationPublic,
    SkillVocabularyBody,
    SkillVocabularySaved,
    StageChangePublic,
    StageMove,
    StageRename,
)
from crm_candidates.application.candidates import InactiveCandidateError
from crm_candidates.application.pools import PoolDefinitions
from crm_candidates.application.profile_settings import ProfileConfiguration
from crm_candidates.domain.custom_fields import CustomFieldDefinition, widened
from crm_candidates.domain.models import DuplicateKeyInTenantError, ProfileError
from crm_candidates.domain.notes import Note
from crm_candidates.domain.pools import (
    AlreadyInPoolError,
    CandidateNotActiveError,
    CandidateNotFoundError,
    NotInPoolError,
    Pool,
    PoolMembership,
    StageDeletionRefused,
    StageRenameRefused,
    UnknownStageError,
    resolve_stage,
)
from crm_candidates.domain.profile import SkillVocabulary, is_phone_region
from crm_shared import (
    CurrentPrincipal,
    IfMatch,
    Page,
    ProblemError,
    StaleVersionError,
    decode_cursor,
    encode_cursor,
    etag_for,
    first_page_of,
    problem_responses,
    reject_unknown_query_params,
    require_permission,
    required_version,
    stale_version,
    utc_now,
    validation_detail,
)
from crm_shared.audit_changes import changed_fields, changes_header

settings_router = APIRouter(tags=["profile settings"])
notes_router = APIRouter(prefix="/candidates", tags=["notes"])
pools_router = APIRouter(prefix="/pools", tags=["talent pools"])


def _not_found(kind: str, identifier: str) -> ProblemError:
    return ProblemError(404, f"no {kind} {identifier}", problem_type="not-found")


def _conflict(detail: str) -> ProblemError:
    return ProblemError(409, detail, problem_type="conflict")


def _inactive_conflict(inactive: CandidateNotActiveError) -> ProblemError:
    """A merged or archived record refused a place in a pool; a merged one names the record
    it was merged into, as a refused note or enrolment does."""
    return ProblemError(
        409,
        str(inactive),
        problem_type="conflict",
        extensions={"merged_into": inactive.merged_into},
    )


@settings_router.get(
    "/profile-settings",
    dependencies=[require_permission("settings:read")],
    response_model=ProfileSettings,
)
async def get_profile_settings(settings: ProfileConfigurationDep) -> ProfileSettings:
    """How the tenant's profiles are normalised: the region national phone numbers are read in."""
    return ProfileSettings(default_phone_region=await settings.default_phone_region())


@settings_router.put(
    "/profile-settings",
    response_model=ProfileSettings,
    dependencies=[require_permission("settings:write")],
)
async def put_profile_settings(
    body: ProfileSettings, settings: ProfileConfigurationDep
) -> ProfileSettings:
    """Sets the region national phone numbers are read in (applies to later writes)."""
    region = body.default_phone_region.upper()
    if not is_phone_region(region):
        raise profile_problem(
            ProfileError([("default_phone_region", f"{region!r} is not a known region")]),
            "profile settings",
        )
    await settings.set_default_phone_region(region)
    return ProfileSettings(default_phone_region=region)


def _vocabulary_body(vocabulary: SkillVocabulary) -> SkillVocabularyBody:
    return SkillVocabularyBody(
        skills=[
            SkillEntry(canonical=name, synonyms=list(synonyms))
            for name, synonyms in vocabulary.synonyms.items()
        ]
    )


@settings_router.get(
    "/skills/vocabulary",
    dependencies=[require_permission("settings:read")],
    response_model=SkillVocabularyBody,
)
async def get_skill_vocabulary(settings: ProfileConfigurationDep) -> SkillVocabularyBody:
    """The tenant's canonical skills with the synonyms mapped to each."""
    return _vocabulary_body(await settings.vocabulary())


@settings_router.put(
    "/skills/vocabulary",
    response_model=SkillVocabularySaved,
    dependencies=[require_permission("settings:write")],
)
async def put_skill_vocabulary(
    body: SkillVocabularyBody,
    settings: ProfileConfigurationDep,
    response: Response,
) -> SkillVocabularySaved:
    """Replaces the vocabulary; skills written from now on map to their canonical skill, and
    the skills candidates already hold are re-spelled in the background (each a
    `candidate.updated`, segments following): progress at `GET /skills/vocabulary/progress`.
    Segment rules naming a skill the vocabulary now spells differently are re-spelled in the
    same change (`segments_respelled` names them), so they keep their members.

    Spellings are compared ignoring case, spaces, dots, dashes and underscores, so one
    spelling may belong to only one canonical skill (a 422 names the clash).
    """
    try:
        vocabulary = SkillVocabulary.build(
            (entry.canonical, entry.synonyms) for entry in body.skills
        )
    except ProfileError as invalid:
        raise profile_problem(invalid, "skill vocabulary") from None
    before = await settings.vocabulary()
    respelled = await settings.replace_vocabulary(vocabulary)
    # For the gateway's audit log: each skill added, removed or given other synonyms.
    response.headers.update(
        changes_header(changed_fields(_skills_by_name(before), _skills_by_name(vocabulary)))
    )
    return SkillVocabularySaved(
        skills=_vocabulary_body(vocabulary).skills, segments_respelled=respelled
    )


def _skills_by_name(vocabulary: SkillVocabulary) -> dict[str, object]:
    """The vocabulary as audited fields: `skills.<canonical>` -> its synonyms."""
    return {
        "skills": {name: list(synonyms) for name, synonyms in vocabulary.synonyms.items()},
    }


def _note_field_change(
    response: Response, before: CustomFieldDefinition, after: CustomFieldDefinition
) -> None:
    """Tells the gateway's audit log what a custom field's change changed."""
    response.headers.update(
        changes_header(
            changed_fields(
                _custom_field_public(before).model_dump(mode="json"),
                _custom_field_public(after).model_dump(mode="json"),
            )
        )
    )


@settings_router.get(
    "/skills/vocabulary/progress",
    dependencies=[require_permission("settings:read")],
    response_model=SkillRenormalisationPublic,
    responses=problem_responses(404, s404="The vocabulary was never changed (`not-found`)."),
)
async def skill_renormalisation_progress(
    settings: ProfileConfigurationDep,
) -> SkillRenormalisationPublic:
    """How far re-spelling the stored skills after the last vocabulary change got (404 before
    any change)."""
    job = await settings.renormalisation_progress()
    if job is None:
        raise _not_found("vocabulary change", "yet")
    return SkillRenormalisationPublic.model_validate(job)


def _custom_field_public(definition: CustomFieldDefinition) -> CustomFieldPublic:
    return CustomFieldPublic.model_validate(definition.model_dump())


@settings_router.post(
    "/custom-fields",
    status_code=201,
    response_model=CustomFieldPublic,
    dependencies=[require_permission("settings:write")],
    responses=problem_responses(409),
)
async def create_custom_field(
    body: CustomFieldCreate,
    principal: CurrentPrincipal,
    settings: ProfileConfigurationDep,
    request: Request,
    response: Response,
) -> CustomFieldPublic:
    """Defines a custom field of the tenant's candidates; a key in use is a 409."""
    try:
        definition = CustomFieldDefinition(
            tenant_id=principal.tenant_id, created_by=principal.user_id, **body.model_dump()
        )
    except ValidationError as invalid:
        # The schema checks each field; what remains is whether allowed_values fit the type.
        raise profile_problem(
            ProfileError(
                [
                    (
                        ".".join(str(part) for part in error["loc"]) or "allowed_values",
                        validation_detail(error).removeprefix("Value error, "),
                    )
                    for error in invalid.errors()
                ]
            ),
            "custom field",
        ) from None
    try:
        await settings.add_custom_field(definition)
    except DuplicateKeyInTenantError:
        raise _conflict(f"a custom field with key {body.key!r} exists") from None
    response.headers["Location"] = f"{request.url.path.rstrip('/')}/{definition.key}"
    return _custom_field_public(definition)


@settings_router.get(
    "/custom-fields",
    dependencies=[require_permission("settings:read"), Depends(reject_unknown_query_params)],
    response_model=list[CustomFieldPublic],
)
async def list_custom_fields(
    settings: ProfileConfigurationDep,
    include_archived: Annotated[bool, Query(description="Deleted fields too.")] = False,
) -> list[CustomFieldPublic]:
    """The tenant's custom fields in the order they were defined (deleted ones when asked)."""
    return [
        _custom_field_public(d)
        for d in await settings.custom_fields()
        if include_archived or d.archived_at is None
    ]


@settings_router.patch(
    "/custom-fields/{key}",
    response_model=CustomFieldPublic,
    dependencies=[require_permission("settings:write")],
)
async def update_custom_field(
    key: str, body: CustomFieldUpdate, settings: ProfileConfigurationDep, response: Response
) -> CustomFieldPublic:
    """Changes a custom field's label, whether it is required, or its choices (which may grow,
    not shrink: candidates may hold any of them). Key and type never change. A required field
    binds later writes that send custom fields, not the records already stored."""
    definition = await _live_custom_field(settings, key)
    try:
        edited = widened(
            definition,
            label=body.label,
            required=body.required,
            allowed_values=body.allowed_values,
        )
    except ValueError as invalid:
        message = str(invalid).removeprefix("Value error, ")
        raise profile_problem(ProfileError([("allowed_values", message)]), "custom field") from None
    await settings.replace_custom_field(edited)
    _note_field_change(response, definition, edited)
    return _custom_field_public(edited)


@settings_router.delete(
    "/custom-fields/{key}",
    status_code=204,
    dependencies=[require_permission("settings:write")],
    responses=problem_responses(409),
)
async def delete_custom_field(key: str, settings: ProfileConfigurationDep) -> Response:
    """Deletes a custom field: it takes no new values and leaves the list, while the values
    candidates hold stay on their records (and in exports); `POST .../restore` brings it back.
    A segment whose rule uses the field is a 409 naming it."""
    definition = await _live_custom_field(settings, key)
    using = await settings.segments_using_field(key)
    if using:
        raise _conflict(
            f"custom field {key!r} is used by segment {', '.join(repr(n) for n in using)}; "
            "change those rules first"
        )
    archived = definition.model_copy(update={"archived_at": utc_now()})
    await settings.replace_custom_field(archived)
    answer = Response(status_code=204)
    _note_field_change(answer, definition, archived)
    return answer


@settings_router.post(
    "/custom-fields/{key}/restore",
    response_model=CustomFieldPublic,
    dependencies=[require_permission("settings:write")],
)
async def restore_custom_field(
    key: str, settings: ProfileConfigurationDep, response: Response
) -> CustomFieldPublic:
    """Brings a deleted custom field back, with the values candidates still hold."""
    definition = await settings.custom_field(key)
    if definition is None or definition.archived_at is None:
        raise _not_found("deleted custom field", key)
    restored = definition.model_copy(update={"archived_at": None})
    await settings.replace_custom_field(restored)
    _note_field_change(response, definition, restored)
    return _custom_field_public(restored)


async def _live_custom_field(settings: ProfileConfiguration, key: str) -> CustomFieldDefinition:
    definition = await settings.custom_field(key)
    if definition is None or definition.archived_at is not None:
        raise _not_found("custom field", key)
    return definition


@settings_router.get(
    "/custom-fields/{key}",
    dependencies=[require_permission("settings:read")],
    response_model=CustomFieldPublic,
)
async def get_custom_field(key: str, settings: ProfileConfigurationDep) -> CustomFieldPublic:
    """One custom field by its key."""
    definition = await settings.custom_field(key)
    if definition is None:
        raise _not_found("custom field", key)
    return _custom_field_public(definition)


def _note_public(note: Note) -> NotePublic:
    return NotePublic.model_validate(note.model_dump())


@notes_router.post(
    "/{candidate_id}/notes",
    status_code=201,
    response_model=NotePublic,
    dependencies=[require_permission("candidates:write")],
)
async def add_note(
    candidate_id: str,
    body: NoteCreate,
    principal: CurrentPrincipal,
    notes: CandidateNotesDep,
) -> NotePublic:
    """Adds a note on a candidate, written by the caller. A merged-away record takes none: a
    409 `candidate-not-active` naming its survivor (`merged_into`), where the note belongs."""
    note = Note(
        tenant_id=principal.tenant_id,
        candidate_id=candidate_id,
        author_id=principal.user_id,
        body=body.body,
    )
    try:
        added = await notes.add(note)
    except InactiveCandidateError as merged:
        raise inactive_problem(merged, "add the note to its survivor instead") from None
    if not added:
        raise _not_found("candidate", candidate_id)
    return _note_public(note)


@notes_router.get(
    "/{candidate_id}/notes",
    response_model=Page[NotePublic],
    dependencies=[require_permission("candidates:read"), Depends(reject_unknown_query_params)],
)
async def list_notes(
    candidate_id: str,
    notes: CandidateNotesDep,
    limit: PageSize = 50,
    cursor: Cursor = None,
) -> Page[NotePublic]:
    """The notes on a candidate, newest first, one page at a time."""
    if not await notes.candidate_exists(candidate_id):
        raise _not_found("candidate", candidate_id)
    before = decode_cursor(cursor) if cursor else None
    found = await notes.page(candidate_id, before=before, limit=limit + 1)
    items, next_cursor = first_page_of(found, limit, lambda note: note.id)
    return Page[NotePublic](items=[_note_public(n) for n in items], next_cursor=next_cursor)


async def _pool_public(pool: Pool, pools: PoolDefinitions) -> PoolPublic:
    return PoolPublic.model_validate(
        {**pool.model_dump(), "member_counts": await pools.stage_counts(pool)}
    )


async def _pool(pools: PoolDefinitions, pool_id: str) -> Pool:
    pool = await pools.get(pool_id)
    if pool is None:
        raise _not_found("pool", pool_id)
    return pool


def _stage(pool: Pool, stage: str | None) -> str:
    try:
        return resolve_stage(pool, stage)
    except UnknownStageError as unknown:
        raise profile_problem(ProfileError([("stage", str(unknown))]), "pool stage") from None


def _member_public(membership: PoolMembership) -> PoolMemberPublic:
    return PoolMemberPublic.model_validate(membership.model_dump())


@pools_router.post(
    "",
    status_code=201,
    response_model=PoolPublic,
    dependencies=[require_permission("pools:write")],
    responses=problem_responses(409),
)
async def create_pool(
    body: PoolCreate,
    principal: CurrentPrincipal,
    pools: PoolDefinitionsDep,
    request: Request,
    response: Response,
) -> PoolPublic:
    """Creates a talent pool with its ordered stages; a name in use is a 409."""
    stages = _distinct_stages(body.stages)
    pool = Pool(
        tenant_id=principal.tenant_id,
        name=body.name,
        description=body.description,
        stages=stages,
        owner_ids=list(dict.fromkeys(body.owner_ids)) or [principal.user_id],
        created_by=principal.user_id,
    )
    try:
        await pools.create(pool)
    except DuplicateKeyInTenantError:
        raise _conflict(f"a pool named {body.name!r} exists") from None
    response.headers["Location"] = f"{request.url.path.rstrip('/')}/{pool.id}"
    return await _pool_public(pool, pools)


def _distinct_stages(stages: list[str]) -> list[str]:
    cleaned = [" ".join(stage.split()) for stage in stages]
    folded = [stage.casefold() for stage in cleaned]
    repeated = [i for i, stage in enumerate(folded) if stage in folded[:i]]
    if repeated:
        raise profile_problem(
            ProfileError(
                [
                    (
                        f"stages.{i}",
                        f"{cleaned[i]!r} repeats the stage {cleaned[folded.index(folded[i])]!r}"
                        " (stage names must differ, ignoring case and spacing)",
                    )
                    for i in repeated
                ]
            ),
            "pool stages",
        )
    return cleaned


@pools_router.patch(
    "/{pool_id}",
    response_model=PoolPublic,
    dependencies=[require_permission("pools:write")],
    responses=problem_responses(409),
)
async def update_pool(pool_id: str, body: PoolUpdate, pools: PoolDefinitionsDep) -> PoolPublic:
    """Renames a pool, changes its owners, or reorders and extends its stages.

    A stage cannot be dropped or renamed here: members and their history refer to it (rename
    one with `PATCH /pools/{id}/stages/{stage}`, delete one with
    `DELETE /pools/{id}/stages/{stage}?move_to=`).
    """
    pool = await _pool(pools, pool_id)
    changes = body.model_dump(exclude_unset=True)
    for name in ("name", "stages", "owner_ids"):
        if name in changes and changes[name] is None:
            raise profile_problem(ProfileError([(name, "cannot be null")]), "pool")
    if "stages" in changes:
        # A current stage keeps its spelling, however the request cases it.
        current = {stage.casefold(): stage for stage in pool.stages}
        changes["stages"] = [
            current.get(stage.casefold(), stage) for stage in _distinct_stages(changes["stages"])
        ]
        missing = [stage for stage in pool.stages if stage not in changes["stages"]]
        if missing:
            raise profile_problem(
                ProfileError([("stages", f"every current stage must stay: {', '.join(missing)}")]),
                "pool",
            )
    if "owner_ids" in changes:
        changes["owner_ids"] = list(dict.fromkeys(changes["owner_ids"]))
    changed = pool.model_copy(update=changes)
    try:
        await pools.replace(changed)
    except DuplicateKeyInTenantError:
        raise _conflict(f"a pool named {changed.name!r} exists") from None
    return await _pool_public(await _pool(pools, pool_id), pools)


@pools_router.delete(
    "/{pool_id}/stages/{stage}",
    response_model=PoolPublic,
    dependencies=[require_permission("pools:write")],
    responses=problem_responses(409),
)
async def delete_pool_stage(
    pool_id: str,
    stage: str,
    pools: PoolDefinitionsDep,
    commands: PoolCommandsDep,
    principal: CurrentPrincipal,
    move_to: Annotated[
        str | None, Query(description="The stage the members of the deleted one move to.")
    ] = None,
) -> PoolPublic:
    """Deletes a stage; its members move to `move_to` (each a move with history and events;
    an archived or merged record at the stage leaves the pool). A stage with members and no
    `move_to`, or the pool's only stage, is a 409; a segment rule or a live sequence naming the
    stage is a 409 naming them. The moves' history keeps the stage's name."""
    pool = await _pool(pools, pool_id)
    deleted = _stage(pool, stage)
    target = _stage(pool, move_to) if move_to is not None else None
    using = await pools.segments_naming_stage(pool.id, deleted)
    if using:
        raise _conflict(
            f"stage {deleted!r} is used by segment {', '.join(repr(n) for n in using)}; "
            "change those rules first"
        )
    # A sequence enrolling at the stage would never enrol anyone again, one moving candidates
    # to it would fail at that step.
    sequences = await pools.sequences_naming_stage(pool.id, deleted)
    if sequences:
        raise _conflict(
            f"stage {deleted!r} is used by sequence {', '.join(repr(n) for n in sequences)} "
            "(its trigger or a move_stage step); change or archive those first"
        )
    try:
        await commands.delete_stage(pool, deleted, target, by=principal.user_id)
    except StageDeletionRefused as refused:
        raise _conflict(str(refused)) from None
    return await _pool_public(await _pool(pools, pool_id), pools)


@pools_router.patch(
    "/{pool_id}/stages/{stage}",
    response_model=PoolPublic,
    dependencies=[require_permission("pools:write")],
)
async def rename_pool_stage(
    pool_id: str,
    stage: str,
    body: StageRename,
    pools: PoolDefinitionsDep,
    commands: PoolCommandsDep,
    principal: CurrentPrincipal,
    response: Response,
    if_match: IfMatch = None,
) -> PoolPublic:
    """Renames a stage, made from the pool version `If-Match` names (428 without it, 412 if the
    pool changed meanwhile); another stage with the name (ignoring case) is a 409. Members stay
    where they are, under the new name; segment rules naming the stage follow, so no segment
    membership changes; `pool.stage_renamed` lets campaigns rename it in pool audiences,
    `pool_stage_reached` triggers and `move_stage` steps. The moves' history keeps the name
    each move was made under."""
    version = required_version(if_match)
    pool = await _pool(pools, pool_id)
    renamed = _stage(pool, stage)
    if pool.version != version:
        raise stale_version("pool", pool_id, pool.version, version)
    try:
        await commands.rename_stage(pool, renamed, body.name, version, by=principal.user_id)
    except StageRenameRefused as refused:
        raise _conflict(str(refused)) from None
    except StaleVersionError as stale:
        raise stale_version("pool", pool_id, stale.current, version) from None
    latest = await _pool(pools, pool_id)
    response.headers["ETag"] = etag_for(latest.version)
    return await _pool_public(latest, pools)


@pools_router.get(
    "",
    dependencies=[require_permission("pools:read"), Depends(reject_unknown_query_params)],
    response_model=list[PoolPublic],
)
async def list_pools(pools: PoolDefinitionsDep) -> list[PoolPublic]:
    """Every talent pool of the tenant with its member counts."""
    return [await _pool_public(pool, pools) for pool in await pools.all()]


@pools_router.get(
    "/{pool_id}", dependencies=[require_permission("pools:read")], response_model=PoolPublic
)
async def get_pool(pool_id: str, pools: PoolDefinitionsDep, response: Response) -> PoolPublic:
    """One talent pool with its member count per stage and its version as `ETag`."""
    pool = await _pool(pools, pool_id)
    response.headers["ETag"] = etag_for(pool.version)
    return await _pool_public(pool, pools)


@pools_router.post(
    "/{pool_id}/members",
    status_code=201,
    response_model=PoolMemberPublic,
    dependencies=[require_permission("pools:write")],
    responses=problem_responses(409),
)
async def add_pool_member(
    pool_id: str,
    body: PoolMemberAdd,
    principal: CurrentPrincipal,
    pools: PoolDefinitionsDep,
    commands: PoolCommandsDep,
) -> PoolMemberPublic:
    """Adds a candidate to the pool (first stage unless given); emits `pool.stage_changed`."""
    pool = await _pool(pools, pool_id)
    stage = _stage(pool, body.stage)
    try:
        membership = await commands.add(pool, body.candidate_id, stage, by=principal.user_id)
    except CandidateNotFoundError:
        raise _not_found("candidate", body.candidate_id) from None
    except AlreadyInPoolError as refused:
        raise _conflict(str(refused)) from None
    except CandidateNotActiveError as inactive:
        raise _inactive_conflict(inactive) from None
    return _member_public(membership)


@pools_router.post(
    "/{pool_id}/members/bulk",
    response_model=PoolMembersAdded,
    dependencies=[require_permission("pools:write")],
)
async def add_pool_members(
    pool_id: str,
    body: PoolMembersAdd,
    principal: CurrentPrincipal,
    pools: PoolDefinitionsDep,
    commands: PoolCommandsDep,
) -> PoolMembersAdded:
    """Adds a selection of candidates (at most 200) to the pool at a stage (the first unless
    given), each as `POST /pools/{id}/members` would (`pool.stage_changed` for each added).
    Every id is accounted for: added, a member already (left at its stage, so repeating the
    request is harmless), unknown, or not active (archived or merged)."""
    pool = await _pool(pools, pool_id)
    stage = _stage(pool, body.stage)
    outcome = await commands.add_many(pool, body.candidate_ids, stage, by=principal.user_id)
    return PoolMembersAdded(
        added=outcome.added,
        already_members=outcome.already_members,
        unknown=outcome.unknown,
        not_active=outcome.not_active,
        member_counts=await pools.stage_counts(pool),
    )


@pools_router.get(
    "/{pool_id}/members",
    response_model=Page[PoolMemberListed],
    dependencies=[require_permission("pools:read"), Depends(reject_unknown_query_params)],
)
async def list_pool_members(
    pool_id: str,
    pools: PoolDefinitionsDep,
    stage: Annotated[str | None, Query(description="Only members at this stage")] = None,
    limit: PageSize = 50,
    cursor: Cursor = None,
) -> Page[PoolMemberListed]:
    """The pool's members in candidate id order, optionally of one stage, a page at a time.

    Each comes with what a list shows of the candidate (name, title, company, ATS stage),
    read with one query per page.
    """
    pool = await _pool(pools, pool_id)
    wanted = _stage(pool, stage) if stage is not None else None
    after = decode_cursor(cursor) if cursor else None
    items, people, more = await pools.members(pool.id, stage=wanted, after=after, limit=limit)
    next_cursor = encode_cursor(items[-1].candidate_id) if more else None
    return Page[PoolMemberListed](
        items=[
            PoolMemberListed.model_validate(
                {
                    **membership.model_dump(),
                    "candidate": (
                        CandidateSummary.model_validate(person.model_dump())
                        if (person := people.get(membership.candidate_id))
                        else None
                    ),
                }
            )
            for membership in items
        ],
        next_cursor=next_cursor,
    )


@pools_router.get(
    "/{pool_id}/members/{candidate_id}",
    dependencies=[require_permission("pools:read")],
    response_model=PoolMemberDetail,
)
async def get_pool_member(
    pool_id: str, candidate_id: str, pools: PoolDefinitionsDep
) -> PoolMemberDetail:
    """A candidate's stage in the pool and the history of every move (kept after removal)."""
    pool = await _pool(pools, pool_id)
    history = await pools.history(pool.id, candidate_id)
    if not history:
        raise _not_found("member of this pool", candidate_id)
    membership = await pools.membership(pool.id, candidate_id)
    return PoolMemberDetail(
        pool_id=pool.id,
        candidate_id=candidate_id,
        stage=membership.stage if membership else None,
        history=[StageChangePublic.model_validate(change.model_dump()) for change in history],
    )


@pools_router.post(
    "/{pool_id}/members/{candidate_id}/stage",
    response_model=PoolMemberPublic,
    dependencies=[require_permission("pools:write")],
    responses=problem_responses(409),
)
async def move_pool_member(
    pool_id: str,
    candidate_id: str,
    body: StageMove,
    principal: CurrentPrincipal,
    pools: PoolDefinitionsDep,
    commands: PoolCommandsDep,
) -> PoolMemberPublic:
    """Moves a member to another stage of the pool; emits `pool.stage_changed`."""
    pool = await _pool(pools, pool_id)
    stage = _stage(pool, body.stage)
    try:
        membership = await commands.move(pool, candidate_id, stage, by=principal.user_id)
    except (NotInPoolError, CandidateNotFoundError) as missing:
        raise ProblemError(404, str(missing), problem_type="not-found") from None
    except CandidateNotActiveError as inactive:
        raise _inactive_conflict(inactive) from None
    return _member_public(membership)


@pools_router.delete(
    "/{pool_id}/members/{candidate_id}",
    status_code=204,
    dependencies=[require_permission("pools:write")],
)
async def remove_pool_member(
    pool_id: str,
    candidate_id: str,
    principal: CurrentPrincipal,
    pools: PoolDefinitionsDep,
    commands: PoolCommandsDep,
) -> Response:
    """Takes a candidate out of the pool; emits `pool.stage_changed` with to_stage null."""
    pool = await _pool(pools, pool_id)
    try:
        await commands.remove(pool, candidate_id, by=principal.user_id)
    except (NotInPoolError, CandidateNotFoundError) as missing:
        raise ProblemError(404, str(missing), problem_type="not-found") from None
    return Response(status_code=204)
