"""Routes of the campaigns API: templates, sequences, enrolments and messages."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from crm_campaigns.api.deps import (
    Container,
    MessagesDep,
    NotificationsDep,
    SequencesDep,
    TemplatesDep,
)
from crm_campaigns.api.schemas import (
    CandidateEnrolment,
    EnrolmentListed,
    EnrolmentOutcome,
    EnrolmentPublic,
    EnrolmentRequest,
    MergeFieldCatalogue,
    MergeFieldPublic,
    MessageListed,
    MessagePublic,
    NotificationPublic,
    RefusedEnrolment,
    SequenceCreate,
    SequenceEnrolmentStates,
    SequencePublic,
    SequenceUpdate,
    TemplateCreate,
    TemplateDraftPreviewRequest,
    TemplateInUse,
    TemplatePreview,
    TemplatePreviewRequest,
    TemplatePublic,
    TemplateUserPublic,
)
from crm_campaigns.application.enrolments import (
    EnrolmentNotFound,
    MergedAwayError,
    SequenceEnrolments,
    enrol_by_hand,
)
from crm_campaigns.application.library import TemplateLibrary
from crm_campaigns.application.lifecycle import (
    StagesNotInPool,
    TemplateNotLive,
    archive_template,
    change_sequence_status,
    edit_sequence,
    save_new_sequence,
)
from crm_campaigns.domain.enrolments import EnrolmentHoldRefused
from crm_campaigns.domain.lifecycle import LifecycleConflict, SequenceAction
from crm_campaigns.domain.models import (
    CustomField,
    EnrolmentState,
    EnrolmentStatus,
    MessageFilter,
    MessageSort,
    MessageStatus,
    Sequence,
    Template,
    notification_page_key,
    read_notification_page_key,
)
from crm_campaigns.domain.sequences import SequenceDefinitionError, parse_steps, parse_trigger
from crm_campaigns.domain.templates import (
    OFFERED_FILTERS,
    RenderError,
    TemplateError,
    TemplateIssue,
    merge_fields,
    validate_template,
)
from crm_shared import (
    MAX_PAGE_SIZE,
    CurrentPrincipal,
    FieldError,
    IfMatch,
    Page,
    ProblemError,
    StaleVersionError,
    decode_cursor,
    etag_for,
    first_page_of,
    problem_responses,
    reject_unknown_query_params,
    require_permission,
    required_version,
    stale_version,
    validation_problem,
)

router = APIRouter(
    # A misspelt filter (`?emial=`) is a 422 naming it, not a silently wider list.
    dependencies=[Depends(reject_unknown_query_params)]
)


def _not_found(kind: str, identifier: str) -> ProblemError:
    return ProblemError(404, f"no {kind} {identifier}", problem_type="not-found")


def _issue(issue: TemplateIssue) -> FieldError:
    """One `errors` entry of a template's 422, with the line of its part when known."""
    return FieldError(issue.part, issue.message, line=issue.line)


async def _validated(
    body: TemplateCreate | TemplateDraftPreviewRequest, templates: TemplateLibrary
) -> None:
    """A 422 naming each part of the template that does not parse or uses something unknown,
    and the line of that part it is on."""
    try:
        validate_template(
            {"subject": body.subject, "html": body.html, "text": body.text},
            block_keys=await templates.block_keys(),
            blocks_in=("html", "text"),
            custom_fields=await templates.custom_field_definitions(),
        )
    except TemplateError as error:
        raise validation_problem(
            [_issue(issue) for issue in error.issues], f"the template is not valid: {error}"
        ) from None


def _render_failed(candidate_id: str, error: RenderError) -> ProblemError:
    """The 422 of a render that fails for one candidate: its part and line."""
    return validation_problem(
        [_issue(TemplateIssue(error.part, error.detail, error.line))],
        f"the template cannot be rendered for candidate {candidate_id}: {error}",
    )


def _conflict(error: LifecycleConflict) -> ProblemError:
    return ProblemError(409, str(error), problem_type="conflict")


@router.post(
    "/templates",
    dependencies=[require_permission("templates:write")],
    status_code=201,
    response_model=TemplatePublic,
    tags=["templates"],
)
async def create_template(
    body: TemplateCreate,
    principal: CurrentPrincipal,
    templates: TemplatesDep,
    request: Request,
    response: Response,
) -> TemplatePublic:
    """Saves a template after checking its syntax and every merge field it uses."""
    await _validated(body, templates)
    template = Template(
        tenant_id=principal.tenant_id, created_by=principal.user_id, **body.model_dump()
    )
    await templates.add(template)
    response.headers["Location"] = f"{request.url.path.rstrip('/')}/{template.id}"
    response.headers["ETag"] = etag_for(template.version)
    return TemplatePublic.model_validate(template.model_dump())


@router.get(
    "/templates",
    dependencies=[require_permission("templates:read")],
    response_model=list[TemplatePublic],
    tags=["templates"],
)
async def list_templates(
    templates: TemplatesDep,
    include_archived: Annotated[bool, Query(description="Archived templates too.")] = False,
) -> list[TemplatePublic]:
    """Every template of the caller's tenant (archived ones only when asked)."""
    return [
        TemplatePublic.model_validate(t.model_dump())
        for t in await templates.all(include_archived=include_archived)
    ]


@router.get(
    "/templates/merge-fields",
    dependencies=[require_permission("templates:read")],
    response_model=MergeFieldCatalogue,
    tags=["templates"],
)
async def template_merge_fields(templates: TemplatesDep) -> MergeFieldCatalogue:
    """What a template may use: the merge fields, the tenant's custom fields (not deleted), the
    signed links, the tenant's blocks and the filters, for an editor's merge-field picker."""
    return MergeFieldCatalogue(
        fields=[
            MergeFieldPublic(name=f.name, description=f.description, insert=f.insert)
            for f in merge_fields(
                await templates.block_keys(), await templates.custom_field_definitions()
            )
        ],
        filters=sorted(OFFERED_FILTERS),
    )


@router.post(
    "/templates/preview",
    dependencies=[require_permission("templates:read")],
    response_model=TemplatePreview,
    tags=["templates"],
    # The candidate to render for may not exist.
    responses=problem_responses(404),
)
async def preview_draft(
    body: TemplateDraftPreviewRequest, templates: TemplatesDep, container: Container
) -> TemplatePreview:
    """Unsaved template parts (an editor's draft) checked as a save checks them and rendered for
    one candidate as a send renders them, without tracking; nothing is stored. A 422 names the
    part and line of each problem (`errors[].line`)."""
    await _validated(body, templates)
    recipient = await templates.recipient(body.candidate_id)
    if recipient is None:
        raise _not_found("candidate", body.candidate_id)
    draft = Template(
        tenant_id=recipient.tenant_id,
        name="draft",
        subject=body.subject,
        html=body.html,
        text=body.text,
        language=body.language,
        created_by="preview",
    )
    try:
        preview = await templates.preview(
            draft,
            recipient,
            public_base_url=container.public_base_url,
            sender_name=container.senders.display_name(recipient.tenant_id),
        )
    except RenderError as error:
        raise _render_failed(body.candidate_id, error) from None
    return TemplatePreview(subject=preview.subject, html=preview.html, text=preview.text)


@router.get(
    "/templates/{template_id}",
    dependencies=[require_permission("templates:read")],
    response_model=TemplateInUse,
    tags=["templates"],
)
async def get_template(
    template_id: str, templates: TemplatesDep, response: Response
) -> TemplateInUse:
    """One template, archived or not, with its version as `ETag`, and the broadcasts and
    sequences that send it from now on (an editor warns that a save changes what they send)."""
    template = await templates.get(template_id)
    if template is None:
        raise _not_found("template", template_id)
    response.headers["ETag"] = etag_for(template.version)
    return await _in_use(template, templates)


async def _in_use(template: Template, templates: TemplateLibrary) -> TemplateInUse:
    users = [
        TemplateUserPublic.model_validate(user, from_attributes=True)
        for user in await templates.users(template.id)
    ]
    return TemplateInUse.model_validate(template.model_dump() | {"sends_this_version": users})


@router.put(
    "/templates/{template_id}",
    dependencies=[require_permission("templates:write")],
    response_model=TemplateInUse,
    tags=["templates"],
    responses=problem_responses(409),
)
async def replace_template(
    template_id: str,
    body: TemplateCreate,
    principal: CurrentPrincipal,
    templates: TemplatesDep,
    response: Response,
    if_match: IfMatch = None,
) -> TemplateInUse:
    """Replaces a template's name and parts, made from the version `If-Match` names (428
    without it, 412 if it changed meanwhile). Mail already rendered (sent, or queued by a
    broadcast) keeps the version it was rendered with; what renders from now on uses this.
    `sends_this_version` names the unfinished broadcasts and live sequences that will send it
    (a broadcast part-way through goes out in two versions), so an edit is never silent."""
    version = required_version(if_match)
    current = await templates.get(template_id)
    if current is None:
        raise _not_found("template", template_id)
    if current.archived_at is not None:
        raise ProblemError(
            409, f"template {template_id} is archived; it cannot change", problem_type="conflict"
        )
    await _validated(body, templates)
    if not await templates.replace(
        template_id, version, body.model_dump(), updated_by=principal.user_id
    ):
        latest = await templates.get(template_id)
        raise stale_version("template", template_id, latest.version if latest else 0, version)
    updated = await templates.get(template_id)
    assert updated is not None
    response.headers["ETag"] = etag_for(updated.version)
    return await _in_use(updated, templates)


@router.delete(
    "/templates/{template_id}",
    dependencies=[require_permission("templates:write")],
    status_code=204,
    tags=["templates"],
    responses=problem_responses(409),
)
async def delete_template(
    template_id: str, principal: CurrentPrincipal, templates: TemplatesDep, container: Container
) -> Response:
    """Archives a template: it leaves the list, nothing new may use it, and the messages that
    were sent with it keep naming it. A 409 names the sequences (not archived) and unfinished
    broadcasts that still use it."""
    if await templates.get(template_id) is None:
        raise _not_found("template", template_id)
    try:
        await archive_template(
            container.mongo, container.database, principal.tenant_id, template_id
        )
    except LifecycleConflict as error:
        raise _conflict(error) from None
    return Response(status_code=204)


@router.post(
    "/templates/{template_id}/preview",
    dependencies=[require_permission("templates:read")],
    response_model=TemplatePreview,
    tags=["templates"],
)
async def preview_template(
    template_id: str,
    body: TemplatePreviewRequest,
    templates: TemplatesDep,
    container: Container,
) -> TemplatePreview:
    """The template rendered for one candidate exactly as a send renders it (sender name, blocks,
    unsubscribe footer), without tracking; a 422 names the part, line and merge fields of a
    render that fails, which is what a send to this candidate would record."""
    template = await templates.get(template_id)
    if template is None:
        raise _not_found("template", template_id)
    recipient = await templates.recipient(body.candidate_id)
    if recipient is None:
        raise _not_found("candidate", body.candidate_id)
    try:
        preview = await templates.preview(
            template,
            recipient,
            public_base_url=container.public_base_url,
            sender_name=container.senders.display_name(recipient.tenant_id),
        )
    except RenderError as error:
        raise _render_failed(body.candidate_id, error) from None
    return TemplatePreview(subject=preview.subject, html=preview.html, text=preview.text)


def _definition(
    raw_trigger: dict[str, Any] | None,
    raw_steps: list[Any] | None,
    custom_fields: list[CustomField],
) -> tuple[Any, list[Any]]:
    """The trigger and steps of a sequence definition (None where not given); a 422 names every
    bad field. A `notify_owner` step may merge the tenant's `custom_fields`."""
    errors: list[tuple[str, str]] = []
    trigger: Any = None
    steps: list[Any] = []
    try:
        trigger = parse_trigger(raw_trigger) if raw_trigger is not None else None
    except SequenceDefinitionError as error:
        errors.extend(error.errors)
    try:
        steps = parse_steps(raw_steps, custom_fields=custom_fields) if raw_steps is not None else []
    except SequenceDefinitionError as error:
        errors.extend(error.errors)
    if errors:
        raise validation_problem(
            [FieldError(field, detail) for field, detail in errors],
            "the sequence is not valid: " + ", ".join(field for field, _ in errors),
        )
    return trigger, steps


async def _notice_fields(
    templates: TemplateLibrary, raw_steps: list[Any] | None
) -> list[CustomField]:
    """The tenant's custom fields when a step may merge them (a `notify_owner` step's title
    and body), read only then."""
    notifies = any(
        isinstance(step, dict) and step.get("type") == "notify_owner" for step in raw_steps or []
    )
    return await templates.custom_field_definitions() if notifies else []


def _stages_not_in_pool(error: StagesNotInPool) -> ProblemError:
    """The 422 for a trigger or `move_stage` step naming a stage its pool does not have."""
    return validation_problem(
        [FieldError(field, reason) for field, reason in error.problems], str(error)
    )


def _unknown_template(error: TemplateNotLive) -> ProblemError:
    """The 422 for a send step whose template is unknown or archived."""
    return validation_problem(
        [FieldError(f"steps.{error.step_index}.template_id", "unknown template")], str(error)
    )


@router.post(
    "/sequences",
    dependencies=[require_permission("sequences:write")],
    status_code=201,
    response_model=SequencePublic,
    tags=["sequences"],
)
async def create_sequence(
    body: SequenceCreate,
    principal: CurrentPrincipal,
    sequences: SequencesDep,
    templates: TemplatesDep,
    request: Request,
    container: Container,
    response: Response,
) -> SequencePublic:
    """Creates a sequence after checking its trigger and steps; for a segment trigger its
    current members enrol too (unless told otherwise), and every later entrant."""
    trigger, steps = _definition(
        body.trigger, body.steps, await _notice_fields(templates, body.steps)
    )
    sequence = Sequence(
        tenant_id=principal.tenant_id,
        created_by=principal.user_id,
        name=body.name,
        trigger=trigger,
        steps=steps,
        reentry=body.reentry,
        exit_on=list(dict.fromkeys(body.exit_on)),
    )
    try:
        await save_new_sequence(
            container.mongo,
            container.database,
            container.outbox,
            sequence,
            enrol_current_members=body.enrol_current_members,
        )
    except TemplateNotLive as error:
        raise _unknown_template(error) from None
    except StagesNotInPool as error:
        raise _stages_not_in_pool(error) from None
    container.steps_due.notify()
    response.headers["Location"] = f"{request.url.path.rstrip('/')}/{sequence.id}"
    response.headers["ETag"] = etag_for(sequence.version)
    return SequencePublic.model_validate(sequence.model_dump())


@router.get(
    "/sequences",
    dependencies=[require_permission("sequences:read")],
    response_model=list[SequencePublic],
    tags=["sequences"],
)
async def list_sequences(
    sequences: SequencesDep,
    include_archived: Annotated[bool, Query(description="Archived sequences too.")] = False,
) -> list[SequencePublic]:
    """Every sequence of the caller's tenant (archived ones only when asked)."""
    return [
        SequencePublic.model_validate(s.model_dump())
        for s in await sequences.all(include_archived=include_archived)
    ]


# Before `/sequences/{sequence_id}`, which would otherwise take `enrolments` for an id.
@router.get(
    "/sequences/enrolments",
    dependencies=[require_permission("sequences:read")],
    response_model=Page[CandidateEnrolment],
    tags=["sequences"],
)
async def candidate_enrolments(
    sequences: SequencesDep,
    candidate_id: Annotated[
        str, Query(min_length=1, max_length=100, description="The candidate's enrolments.")
    ],
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page")] = None,
) -> Page[CandidateEnrolment]:
    """A candidate's enrolments in every sequence (archived ones too), each with where it
    stands, why it ended and its sequence's name and status: what a profile shows. A page at a
    time; an unknown candidate has none."""
    after = decode_cursor(cursor) if cursor else None
    found = await sequences.of_candidate(candidate_id, after=after, limit=limit + 1)
    items, next_cursor = first_page_of(found, limit, lambda enrolled: enrolled[0].id)
    return Page[CandidateEnrolment](
        items=[CandidateEnrolment.of_sequence(e, sequence) for e, sequence in items],
        next_cursor=next_cursor,
    )


@router.get(
    "/sequences/{sequence_id}",
    dependencies=[require_permission("sequences:read")],
    response_model=SequencePublic,
    tags=["sequences"],
)
async def get_sequence(
    sequence_id: str, sequences: SequencesDep, response: Response
) -> SequencePublic:
    """One sequence, with its version as `ETag`."""
    sequence = await _sequence(sequences, sequence_id)
    response.headers["ETag"] = etag_for(sequence.version)
    return SequencePublic.model_validate(sequence.model_dump())


async def _sequence(sequences: SequenceEnrolments, sequence_id: str) -> Sequence:
    sequence = await sequences.get(sequence_id)
    if sequence is None:
        raise _not_found("sequence", sequence_id)
    return sequence


@router.patch(
    "/sequences/{sequence_id}",
    dependencies=[require_permission("sequences:write")],
    response_model=SequencePublic,
    tags=["sequences"],
    responses=problem_responses(409),
)
async def edit_sequence_route(
    sequence_id: str,
    body: SequenceUpdate,
    principal: CurrentPrincipal,
    sequences: SequencesDep,
    templates: TemplatesDep,
    container: Container,
    response: Response,
    if_match: IfMatch = None,
) -> SequencePublic:
    """Edits a sequence, live or paused, made from the version `If-Match` names (428 without
    it, 412 if someone changed it meanwhile). Enrolments in progress go on from the step index
    they are at: the edit applies to the steps they have not reached yet; one whose index is
    past the new end completes. A new segment trigger does not enrol the segment's current
    members (enrol them by hand)."""
    version = required_version(if_match)
    sequence = await _sequence(sequences, sequence_id)
    trigger, steps = _definition(
        body.trigger, body.steps, await _notice_fields(templates, body.steps)
    )
    changes = body.model_dump(mode="json", exclude_unset=True, exclude={"trigger", "steps"})
    if trigger is not None:
        changes["trigger"] = trigger.model_dump()
    if body.steps is not None:
        changes["steps"] = [step.model_dump() for step in steps]
    if body.exit_on is not None:
        changes["exit_on"] = list(dict.fromkeys(changes["exit_on"]))
    try:
        await edit_sequence(
            container.mongo,
            container.database,
            container.outbox,
            sequence,
            version,
            changes,
            new_steps=steps if body.steps is not None else None,
            new_trigger=trigger,
            user_id=principal.user_id,
        )
    except TemplateNotLive as error:
        raise _unknown_template(error) from None
    except StagesNotInPool as error:
        raise _stages_not_in_pool(error) from None
    except StaleVersionError as stale:
        raise stale_version("sequence", sequence_id, stale.current, version) from None
    except LifecycleConflict as error:
        raise _conflict(error) from None
    container.steps_due.notify()
    return await get_sequence(sequence_id, sequences, response)


async def _change_status(
    sequence_id: str,
    action: SequenceAction,
    principal: CurrentPrincipal,
    sequences: SequenceEnrolments,
    container: Container,
) -> Sequence:
    sequence = await _sequence(sequences, sequence_id)
    try:
        await change_sequence_status(
            container.mongo,
            container.database,
            container.outbox,
            sequence,
            action,
            principal.user_id,
        )
    except LifecycleConflict as error:
        raise _conflict(error) from None
    container.steps_due.notify()
    return await _sequence(sequences, sequence_id)


@router.post(
    "/sequences/{sequence_id}/pause",
    dependencies=[require_permission("sequences:write")],
    response_model=SequencePublic,
    tags=["sequences"],
    responses=problem_responses(409),
)
async def pause_sequence(
    sequence_id: str, principal: CurrentPrincipal, sequences: SequencesDep, container: Container
) -> SequencePublic:
    """Pauses an active sequence: no step of it runs until it resumes; its enrolments (and any
    its trigger starts meanwhile) wait as `paused`. 409 if it is not active."""
    paused = await _change_status(
        sequence_id, SequenceAction.PAUSE, principal, sequences, container
    )
    return SequencePublic.model_validate(paused.model_dump())


@router.post(
    "/sequences/{sequence_id}/resume",
    dependencies=[require_permission("sequences:write")],
    response_model=SequencePublic,
    tags=["sequences"],
    responses=problem_responses(409),
)
async def resume_sequence(
    sequence_id: str, principal: CurrentPrincipal, sequences: SequencesDep, container: Container
) -> SequencePublic:
    """Resumes a paused sequence: its enrolments go on where they stopped, and a timer that
    passed meanwhile runs at once. 409 if it is not paused."""
    resumed = await _change_status(
        sequence_id, SequenceAction.RESUME, principal, sequences, container
    )
    return SequencePublic.model_validate(resumed.model_dump())


@router.delete(
    "/sequences/{sequence_id}",
    dependencies=[require_permission("sequences:write")],
    status_code=204,
    tags=["sequences"],
    responses=problem_responses(409),
)
async def archive_sequence(
    sequence_id: str, principal: CurrentPrincipal, sequences: SequencesDep, container: Container
) -> Response:
    """Archives a sequence (final): its trigger enrols nobody any more, its enrolments in
    progress exit (`sequence_archived`), and it leaves the list; its enrolments and messages
    are kept and readable. 409 if it is archived already."""
    await _change_status(sequence_id, SequenceAction.ARCHIVE, principal, sequences, container)
    return Response(status_code=204)


@router.get(
    "/sequences/{sequence_id}/enrolments",
    dependencies=[require_permission("sequences:read")],
    response_model=Page[EnrolmentListed],
    tags=["sequences"],
)
async def sequence_enrolments(
    sequence_id: str,
    sequences: SequencesDep,
    state: Annotated[
        EnrolmentState | None, Query(description="Only the enrolments in this state.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page")] = None,
) -> Page[EnrolmentListed]:
    """The candidates enrolled in a sequence, by name, and where each stands, with the reason
    of every failed one; in the order they were enrolled, a page at a time."""
    await _sequence(sequences, sequence_id)
    after = decode_cursor(cursor) if cursor else None
    found = await sequences.listed(sequence_id, state, after=after, limit=limit + 1)
    items, next_cursor = first_page_of(found, limit, lambda listed: listed.enrolment.id)
    return Page[EnrolmentListed](
        items=[EnrolmentListed.listed(listed.enrolment, listed.recipient) for listed in items],
        next_cursor=next_cursor,
    )


@router.get(
    "/sequences/{sequence_id}/enrolment-states",
    dependencies=[require_permission("sequences:read")],
    response_model=SequenceEnrolmentStates,
    tags=["sequences"],
)
async def sequence_enrolment_states(
    sequence_id: str, sequences: SequencesDep
) -> SequenceEnrolmentStates:
    """How many enrolments are active, waiting, failed, completed and exited, and why the
    failed ones failed: where a stuck sequence shows."""
    await _sequence(sequences, sequence_id)
    return SequenceEnrolmentStates(
        sequence_id=sequence_id,
        states=await sequences.state_counts(sequence_id),
        failure_reasons=await sequences.failure_reasons(sequence_id),
    )


@router.post(
    "/sequences/{sequence_id}/enrolments/{candidate_id}/retry",
    dependencies=[require_permission("sequences:write")],
    response_model=EnrolmentPublic,
    tags=["sequences"],
    responses=problem_responses(409),
)
async def retry_enrolment(
    sequence_id: str,
    candidate_id: str,
    sequences: SequencesDep,
    container: Container,
) -> EnrolmentPublic:
    """Runs a failed enrolment's failed step again (after its template was fixed, say)."""
    await _sequence(sequences, sequence_id)
    latest = await sequences.latest(sequence_id, candidate_id)
    if latest is None:
        raise _not_found("enrolment of candidate", candidate_id)
    if latest.status is not EnrolmentStatus.FAILED or not await sequences.retry(latest):
        raise ProblemError(
            409,
            f"the enrolment of candidate {candidate_id} is {latest.status.value}, not failed",
            problem_type="conflict",
        )
    container.steps_due.notify()
    retried = await sequences.latest(sequence_id, candidate_id)
    assert retried is not None
    return EnrolmentPublic.of(retried)


@router.post(
    "/sequences/{sequence_id}/enrolments/{candidate_id}/pause",
    dependencies=[require_permission("sequences:write")],
    response_model=EnrolmentPublic,
    tags=["sequences"],
    responses=problem_responses(409),
)
async def pause_enrolment(
    sequence_id: str,
    candidate_id: str,
    principal: CurrentPrincipal,
    sequences: SequencesDep,
) -> EnrolmentPublic:
    """Pauses one candidate's enrolment on its own: no step of it runs (a step running at that
    moment commits nothing) until it is resumed, and resuming its sequence leaves it paused.
    Exit conditions still end it. 409 if it is not in progress (failed: retry or remove it;
    completed or exited) or paused on its own already."""
    sequence = await _sequence(sequences, sequence_id)
    try:
        paused = await sequences.pause(sequence, candidate_id, principal.user_id)
    except EnrolmentNotFound:
        raise _not_found("enrolment of candidate", candidate_id) from None
    except EnrolmentHoldRefused as refused:
        raise ProblemError(409, str(refused), problem_type="conflict") from None
    return EnrolmentPublic.of(paused)


@router.post(
    "/sequences/{sequence_id}/enrolments/{candidate_id}/resume",
    dependencies=[require_permission("sequences:write")],
    response_model=EnrolmentPublic,
    tags=["sequences"],
    responses=problem_responses(409),
)
async def resume_enrolment(
    sequence_id: str,
    candidate_id: str,
    sequences: SequencesDep,
    container: Container,
) -> EnrolmentPublic:
    """Resumes an enrolment paused on its own: it goes on from the step it stopped at (a timer
    that passed meanwhile runs at once), or, while its sequence is paused, waits with the
    sequence. 409 if it was not paused on its own (one paused with its sequence resumes with
    the sequence)."""
    sequence = await _sequence(sequences, sequence_id)
    try:
        resumed = await sequences.resume(sequence, candidate_id)
    except EnrolmentNotFound:
        raise _not_found("enrolment of candidate", candidate_id) from None
    except EnrolmentHoldRefused as refused:
        raise ProblemError(409, str(refused), problem_type="conflict") from None
    container.steps_due.notify()
    return EnrolmentPublic.of(resumed)


@router.post(
    "/sequences/{sequence_id}/enrolments",
    dependencies=[require_permission("sequences:write")],
    response_model=EnrolmentOutcome,
    tags=["sequences"],
    responses=problem_responses(409),
)
async def enrol_candidates(
    sequence_id: str,
    body: EnrolmentRequest,
    principal: CurrentPrincipal,
    sequences: SequencesDep,
    container: Container,
) -> EnrolmentOutcome:
    """Enrols candidates by hand, as the sequence's re-entry policy allows; says who was not.
    Into a paused sequence they enrol paused; an archived one answers 409. A candidate merged
    into another record answers 409 `candidate-not-active` (nobody enrolled), naming the record
    to enrol instead (`merged_into`; `survivors` maps each merged-away id asked to its own)."""
    sequence = await _sequence(sequences, sequence_id)
    try:
        outcome = await enrol_by_hand(
            container.mongo, container.database, sequence, body.candidate_ids, principal.user_id
        )
    except LifecycleConflict as error:
        raise _conflict(error) from None
    except MergedAwayError as merged:
        raise ProblemError(
            409,
            f"{merged}; enrol the survivor instead",
            problem_type="candidate-not-active",
            extensions={
                "merged_into": next(iter(merged.survivors.values())),
                "survivors": merged.survivors,
            },
        ) from None
    container.steps_due.notify()
    return EnrolmentOutcome(
        enrolled=[EnrolmentPublic.of(enrolment) for enrolment in outcome.enrolled],
        refused=[
            RefusedEnrolment(candidate_id=candidate_id, reason=reason)
            for candidate_id, reason in outcome.refused
        ],
    )


@router.delete(
    "/sequences/{sequence_id}/enrolments/{candidate_id}",
    dependencies=[require_permission("sequences:write")],
    response_model=EnrolmentPublic,
    tags=["sequences"],
)
async def remove_candidate(
    sequence_id: str,
    candidate_id: str,
    principal: CurrentPrincipal,
    sequences: SequencesDep,
) -> EnrolmentPublic:
    """Ends a candidate's active enrolment in a sequence (exit reason `removed`)."""
    await _sequence(sequences, sequence_id)
    if not await sequences.remove(sequence_id, candidate_id):
        raise _not_found("active enrolment of candidate", candidate_id)
    latest = await sequences.latest(sequence_id, candidate_id)
    assert latest is not None
    return EnrolmentPublic.of(latest)


@router.get(
    "/notifications",
    dependencies=[require_permission("sequences:read")],
    response_model=Page[NotificationPublic],
    tags=["notifications"],
)
async def list_notifications(
    principal: CurrentPrincipal,
    notifications: NotificationsDep,
    unread: bool = False,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page")] = None,
) -> Page[NotificationPublic]:
    """The caller's own notifications (from `notify_owner` steps and replies to mail), in the
    order they were made, oldest first."""
    after = decode_cursor(cursor) if cursor else None
    if after is not None:
        try:
            read_notification_page_key(after)
        except ValueError:
            raise ProblemError(
                400, "the cursor is not valid", problem_type="invalid-cursor"
            ) from None
    found = await notifications.page(
        principal.user_id, unread_only=unread, after=after, limit=limit + 1
    )
    items, next_cursor = first_page_of(found, limit, notification_page_key)
    return Page[NotificationPublic](
        items=[NotificationPublic.model_validate(n.model_dump()) for n in items],
        next_cursor=next_cursor,
    )


@router.post(
    "/notifications/{notification_id}/read",
    dependencies=[require_permission("sequences:read")],
    response_model=NotificationPublic,
    tags=["notifications"],
)
async def read_notification(
    notification_id: str, principal: CurrentPrincipal, notifications: NotificationsDep
) -> NotificationPublic:
    """Marks one of the caller's notifications read."""
    notification = await notifications.mark_read(principal.user_id, notification_id)
    if notification is None:
        raise _not_found("notification", notification_id)
    return NotificationPublic.model_validate(notification.model_dump())


@router.get(
    "/messages",
    dependencies=[require_permission("candidates:read")],
    response_model=Page[MessageListed],
    tags=["messages"],
)
async def list_messages(
    messages: MessagesDep,
    candidate_id: str | None = None,
    broadcast_id: Annotated[
        str | None, Query(description="Only the messages of this broadcast.")
    ] = None,
    sequence_id: Annotated[
        str | None, Query(description="Only the messages of this sequence's steps.")
    ] = None,
    status: Annotated[
        MessageStatus | None,
        Query(description="Only messages in this state, e.g. `failed` with their reasons."),
    ] = None,
    replied: Annotated[
        bool | None,
        Query(description="Only messages replied to (true, with their `replies`) or not (false)."),
    ] = None,
    sort: Annotated[
        MessageSort,
        Query(
            description="`created_at` (oldest first, the default) or `-created_at` (newest "
            "first). A cursor continues the order it was made in."
        ),
    ] = MessageSort.CREATED_AT,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page")] = None,
) -> Page[MessageListed]:
    """Messages of the caller's tenant, oldest first (or newest first with
    `sort=-created_at`), optionally of one candidate, broadcast or sequence, in one state and
    replied to or not (the filters combine), each with its recipient's name."""
    after = _message_cursor_key(cursor, sort) if cursor else None
    shown = MessageFilter(candidate_id, broadcast_id, sequence_id, status, replied)
    found = await messages.listed(shown, after=after, limit=limit + 1, sort=sort)
    items, next_cursor = first_page_of(
        found, limit, lambda listed: _message_cursor_value(listed.message.id, sort)
    )
    return Page[MessageListed](
        items=[MessageListed.listed(listed.message, listed.recipient) for listed in items],
        next_cursor=next_cursor,
    )


# A newest-first cursor's key is the id with this mark (an ObjectId never starts with it), so
# a cursor used in the other order is refused rather than skipping or repeating messages. An
# oldest-first cursor stays the bare id, as cursors made before `sort` existed are.
_NEWEST_FIRST_MARK = "-"


def _message_cursor_value(message_id: str, sort: MessageSort) -> str:
    return _NEWEST_FIRST_MARK + message_id if sort is MessageSort.NEWEST_FIRST else message_id


def _message_cursor_key(cursor: str, sort: MessageSort) -> str:
    """The id a message-list cursor resumes after; a 400 problem if it was made for the other
    order."""
    value = decode_cursor(cursor)
    newest_first = value.startswith(_NEWEST_FIRST_MARK)
    if newest_first != (sort is MessageSort.NEWEST_FIRST):
        raise ProblemError(
            400, "the cursor belongs to another sort order", problem_type="invalid-cursor"
        )
    return value.removeprefix(_NEWEST_FIRST_MARK)


@router.get(
    "/messages/{message_id}",
    dependencies=[require_permission("candidates:read")],
    response_model=MessagePublic,
    tags=["messages"],
)
async def get_message(message_id: str, messages: MessagesDep) -> MessagePublic:
    """One message with its delivery status and engagement."""
    message = await messages.get(message_id)
    if message is None:
        raise _not_found("message", message_id)
    return MessagePublic.of(message)
