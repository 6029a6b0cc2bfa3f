"""Routes of the campaigns API: templates, sequences, enrolments and messages."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from crm_campaigns.api.schemas import (
    EnrolmentOutcome,
    EnrolmentPublic,
    EnrolmentRequest,
    MessagePublic,
    NotificationPublic,
    RefusedEnrolment,
    SequenceCreate,
    SequenceEnrolmentStates,
    SequencePublic,
    TemplateCreate,
    TemplatePreview,
    TemplatePreviewRequest,
    TemplatePublic,
)
from crm_campaigns.domain.contact_links import preview_links, with_footer
from crm_campaigns.domain.models import (
    EnrolmentRefused,
    EnrolmentState,
    EnrolmentStatus,
    ExitReason,
    SegmentTrigger,
    SendStep,
    Sequence,
    Template,
)
from crm_campaigns.domain.sequences import SequenceDefinitionError, parse_steps, parse_trigger
from crm_campaigns.domain.templates import (
    RenderError,
    TemplateError,
    recipient_context,
    render,
    validate_template,
)
from crm_campaigns.repository import (
    BlocksRepo,
    EnrolmentRepository,
    EnrolmentsRepo,
    MessagesRepo,
    NotificationsRepo,
    RecipientsRepo,
    SegmentMemberRepository,
    SequencesRepo,
    TemplatesRepo,
)
from crm_shared import (
    MAX_PAGE_SIZE,
    CurrentPrincipal,
    Page,
    Platform,
    ProblemError,
    Session,
    current_trace_context,
    decode_cursor,
    encode_cursor,
    in_transaction,
)

router = APIRouter()


def _not_found(kind: str, identifier: str) -> ProblemError:
    return ProblemError(404, f"no {kind} {identifier}", problem_type="not-found")


def _invalid(detail: str, errors: list[dict[str, str]]) -> ProblemError:
    return ProblemError(
        422,
        detail,
        title="Request validation failed",
        problem_type="validation-error",
        extensions={"errors": errors},
    )


@router.post("/templates", status_code=201, response_model=TemplatePublic, tags=["templates"])
async def create_template(
    body: TemplateCreate,
    principal: CurrentPrincipal,
    templates: TemplatesRepo,
    blocks: BlocksRepo,
    request: Request,
    response: Response,
) -> TemplatePublic:
    """Saves a template after checking its syntax and every merge field it uses."""
    try:
        validate_template(
            {"subject": body.subject, "html": body.html, "text": body.text},
            block_keys=await blocks.keys(),
            blocks_in=("html", "text"),
        )
    except TemplateError as error:
        raise _invalid(
            f"the template is not valid: {error}",
            [{"field": part, "detail": message} for part, message in error.errors],
        ) from None
    template = Template(
        tenant_id=principal.tenant_id, created_by=principal.user_id, **body.model_dump()
    )
    await templates.add(template)
    response.headers["Location"] = f"{request.url.path.rstrip('/')}/{template.id}"
    return TemplatePublic.model_validate(template.model_dump())


@router.get("/templates", response_model=list[TemplatePublic], tags=["templates"])
async def list_templates(templates: TemplatesRepo) -> list[TemplatePublic]:
    """Every template of the caller's tenant."""
    return [TemplatePublic.model_validate(t.model_dump()) for t in await templates.all()]


@router.get("/templates/{template_id}", response_model=TemplatePublic, tags=["templates"])
async def get_template(template_id: str, templates: TemplatesRepo) -> TemplatePublic:
    """One template."""
    template = await templates.get(template_id)
    if template is None:
        raise _not_found("template", template_id)
    return TemplatePublic.model_validate(template.model_dump())


@router.post("/templates/{template_id}/preview", response_model=TemplatePreview, tags=["templates"])
async def preview_template(
    template_id: str,
    body: TemplatePreviewRequest,
    templates: TemplatesRepo,
    recipients: RecipientsRepo,
    blocks: BlocksRepo,
    request: Request,
) -> TemplatePreview:
    """The template rendered for one candidate exactly as a send renders it (sender name, blocks,
    unsubscribe footer), without tracking; a 422 names the part, line and merge fields of a
    render that fails, which is what a send to this candidate would record."""
    template = await templates.get(template_id)
    if template is None:
        raise _not_found("template", template_id)
    recipient = await recipients.get(body.candidate_id)
    if recipient is None:
        raise _not_found("candidate", body.candidate_id)
    base_url: str = request.app.state.public_base_url
    links = preview_links(base_url)
    try:
        rendered = render(
            template.subject,
            template.html,
            template.text,
            recipient_context(recipient, request.app.state.sender_name, links),
            await blocks.sources(),
        )
    except RenderError as error:
        raise _invalid(
            f"the template cannot be rendered for candidate {body.candidate_id}: {error}",
            [{"field": error.part, "detail": str(error)}],
        ) from None
    html, text = with_footer(rendered.html, rendered.text, links)
    return TemplatePreview(subject=rendered.subject, html=html, text=text)


def _definition(body: SequenceCreate) -> tuple[Any, list[Any]]:
    """The trigger and steps of a sequence definition; a 422 names every bad field."""
    errors: list[tuple[str, str]] = []
    trigger: Any = None
    steps: list[Any] = []
    try:
        trigger = parse_trigger(body.trigger)
    except SequenceDefinitionError as error:
        errors.extend(error.errors)
    try:
        steps = parse_steps(body.steps)
    except SequenceDefinitionError as error:
        errors.extend(error.errors)
    if errors:
        raise _invalid(
            "the sequence is not valid: " + ", ".join(field for field, _ in errors),
            [{"field": field, "detail": detail} for field, detail in errors],
        )
    return trigger, steps


@router.post("/sequences", status_code=201, response_model=SequencePublic, tags=["sequences"])
async def create_sequence(
    body: SequenceCreate,
    principal: CurrentPrincipal,
    sequences: SequencesRepo,
    templates: TemplatesRepo,
    request: Request,
    response: Response,
) -> SequencePublic:
    """Creates a sequence after checking its trigger and steps; for a segment trigger its
    current members enrol too (unless told otherwise), and every later entrant."""
    trigger, steps = _definition(body)
    for index, step in enumerate(steps):
        if isinstance(step, SendStep) and await templates.get(step.template_id) is None:
            raise _invalid(
                f"step {index} sends template {step.template_id}, which does not exist",
                [{"field": f"steps.{index}.template_id", "detail": "unknown template"}],
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
    platform: Platform = request.app.state.platform
    database = platform.require_database()

    async def store(session: Session) -> None:
        await sequences.add(sequence, session=session)
        if not body.enrol_current_members or not isinstance(trigger, SegmentTrigger):
            return
        members = SegmentMemberRepository(database, principal.tenant_id)
        enrolments = EnrolmentRepository(database, principal.tenant_id)
        for candidate_id in await members.members(trigger.segment_id, session=session):
            await enrolments.enrol(
                sequence,
                candidate_id,
                current_trace_context(),
                enrolled_by=f"segment:{trigger.segment_id}",
                session=session,
            )

    await in_transaction(platform.require_mongo(), store)
    request.app.state.steps_due.notify()
    response.headers["Location"] = f"{request.url.path.rstrip('/')}/{sequence.id}"
    return SequencePublic.model_validate(sequence.model_dump())


@router.get("/sequences", response_model=list[SequencePublic], tags=["sequences"])
async def list_sequences(sequences: SequencesRepo) -> list[SequencePublic]:
    """Every sequence of the caller's tenant."""
    return [SequencePublic.model_validate(s.model_dump()) for s in await sequences.all()]


@router.get("/sequences/{sequence_id}", response_model=SequencePublic, tags=["sequences"])
async def get_sequence(sequence_id: str, sequences: SequencesRepo) -> SequencePublic:
    """One sequence."""
    sequence = await sequences.get(sequence_id)
    if sequence is None:
        raise _not_found("sequence", sequence_id)
    return SequencePublic.model_validate(sequence.model_dump())


@router.get(
    "/sequences/{sequence_id}/enrolments", response_model=list[EnrolmentPublic], tags=["sequences"]
)
async def sequence_enrolments(
    sequence_id: str,
    sequences: SequencesRepo,
    enrolments: EnrolmentsRepo,
    state: Annotated[
        EnrolmentState | None, Query(description="Only the enrolments in this state.")
    ] = None,
) -> list[EnrolmentPublic]:
    """The candidates enrolled in a sequence and where each stands (first 1000), with the
    reason of every failed one."""
    if await sequences.get(sequence_id) is None:
        raise _not_found("sequence", sequence_id)
    return [EnrolmentPublic.of(e) for e in await enrolments.of_sequence(sequence_id, state)]


@router.get(
    "/sequences/{sequence_id}/enrolment-states",
    response_model=SequenceEnrolmentStates,
    tags=["sequences"],
)
async def sequence_enrolment_states(
    sequence_id: str, sequences: SequencesRepo, enrolments: EnrolmentsRepo
) -> SequenceEnrolmentStates:
    """How many enrolments are active, waiting, failed, completed and exited, and why the
    failed ones failed: where a stuck sequence shows."""
    if await sequences.get(sequence_id) is None:
        raise _not_found("sequence", sequence_id)
    return SequenceEnrolmentStates(
        sequence_id=sequence_id,
        states=await enrolments.state_counts(sequence_id),
        failure_reasons=await enrolments.failure_reasons(sequence_id),
    )


@router.post(
    "/sequences/{sequence_id}/enrolments/{candidate_id}/retry",
    response_model=EnrolmentPublic,
    tags=["sequences"],
)
async def retry_enrolment(
    sequence_id: str,
    candidate_id: str,
    sequences: SequencesRepo,
    enrolments: EnrolmentsRepo,
    request: Request,
) -> EnrolmentPublic:
    """Runs a failed enrolment's failed step again (after its template was fixed, say)."""
    if await sequences.get(sequence_id) is None:
        raise _not_found("sequence", sequence_id)
    latest = await enrolments.latest(sequence_id, candidate_id)
    if latest is None:
        raise _not_found("enrolment of candidate", candidate_id)
    if latest.status is not EnrolmentStatus.FAILED or not await enrolments.retry(latest):
        raise ProblemError(
            409,
            f"the enrolment of candidate {candidate_id} is {latest.status.value}, not failed",
            problem_type="conflict",
        )
    request.app.state.steps_due.notify()
    retried = await enrolments.latest(sequence_id, candidate_id)
    assert retried is not None
    return EnrolmentPublic.of(retried)


@router.post(
    "/sequences/{sequence_id}/enrolments", response_model=EnrolmentOutcome, tags=["sequences"]
)
async def enrol_candidates(
    sequence_id: str,
    body: EnrolmentRequest,
    principal: CurrentPrincipal,
    sequences: SequencesRepo,
    recipients: RecipientsRepo,
    request: Request,
) -> EnrolmentOutcome:
    """Enrols candidates by hand, as the sequence's re-entry policy allows; says who was not."""
    sequence = await sequences.get(sequence_id)
    if sequence is None:
        raise _not_found("sequence", sequence_id)
    platform: Platform = request.app.state.platform
    database = platform.require_database()
    enrolled: list[EnrolmentPublic] = []
    refused: list[RefusedEnrolment] = []

    async def enrol(session: Session) -> None:
        enrolled.clear()
        refused.clear()
        enrolments = EnrolmentRepository(database, principal.tenant_id)
        for candidate_id in dict.fromkeys(body.candidate_ids):
            if await recipients.get(candidate_id, session=session) is None:
                refused.append(
                    RefusedEnrolment(candidate_id=candidate_id, reason="unknown_candidate")
                )
                continue
            outcome = await enrolments.enrol(
                sequence,
                candidate_id,
                current_trace_context(),
                enrolled_by=f"user:{principal.user_id}",
                session=session,
            )
            if isinstance(outcome, EnrolmentRefused):
                refused.append(RefusedEnrolment(candidate_id=candidate_id, reason=outcome))
            else:
                enrolled.append(EnrolmentPublic.of(outcome))

    await in_transaction(platform.require_mongo(), enrol)
    request.app.state.steps_due.notify()
    return EnrolmentOutcome(enrolled=enrolled, refused=refused)


@router.delete(
    "/sequences/{sequence_id}/enrolments/{candidate_id}",
    response_model=EnrolmentPublic,
    tags=["sequences"],
)
async def remove_candidate(
    sequence_id: str,
    candidate_id: str,
    principal: CurrentPrincipal,
    sequences: SequencesRepo,
    enrolments: EnrolmentsRepo,
    request: Request,
) -> EnrolmentPublic:
    """Ends a candidate's active enrolment in a sequence (exit reason `removed`)."""
    if await sequences.get(sequence_id) is None:
        raise _not_found("sequence", sequence_id)
    platform: Platform = request.app.state.platform

    async def remove(session: Session) -> int:
        return await enrolments.exit_active(
            candidate_id, ExitReason.REMOVED, sequence_ids=[sequence_id], session=session
        )

    if not await in_transaction(platform.require_mongo(), remove):
        raise _not_found("active enrolment of candidate", candidate_id)
    latest = await enrolments.latest(sequence_id, candidate_id)
    assert latest is not None
    return EnrolmentPublic.of(latest)


@router.get("/notifications", response_model=Page[NotificationPublic], tags=["notifications"])
async def list_notifications(
    principal: CurrentPrincipal,
    notifications: NotificationsRepo,
    unread: bool = False,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page")] = None,
) -> Page[NotificationPublic]:
    """The caller's own notifications (from `notify_owner` steps), oldest first."""
    after = decode_cursor(cursor) if cursor else None
    found = await notifications.page(
        principal.user_id, unread_only=unread, after=after, limit=limit + 1
    )
    items = found[:limit]
    next_cursor = encode_cursor(items[-1].id) if len(found) > limit else None
    return Page[NotificationPublic](
        items=[NotificationPublic.model_validate(n.model_dump()) for n in items],
        next_cursor=next_cursor,
    )


@router.post(
    "/notifications/{notification_id}/read",
    response_model=NotificationPublic,
    tags=["notifications"],
)
async def read_notification(
    notification_id: str, principal: CurrentPrincipal, notifications: NotificationsRepo
) -> NotificationPublic:
    """Marks one of the caller's notifications read."""
    notification = await notifications.mark_read(principal.user_id, notification_id)
    if notification is None:
        raise _not_found("notification", notification_id)
    return NotificationPublic.model_validate(notification.model_dump())


@router.get("/messages", response_model=Page[MessagePublic], tags=["messages"])
async def list_messages(
    messages: MessagesRepo,
    candidate_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page")] = None,
) -> Page[MessagePublic]:
    """Messages of the caller's tenant, optionally of one candidate, oldest first."""
    after = decode_cursor(cursor) if cursor else None
    found = await messages.page(candidate_id=candidate_id, after=after, limit=limit + 1)
    items = found[:limit]
    next_cursor = encode_cursor(items[-1].id) if len(found) > limit else None
    return Page[MessagePublic](items=[MessagePublic.of(m) for m in items], next_cursor=next_cursor)


@router.get("/messages/{message_id}", response_model=MessagePublic, tags=["messages"])
async def get_message(message_id: str, messages: MessagesRepo) -> MessagePublic:
    """One message with its delivery status and engagement."""
    message = await messages.get(message_id)
    if message is None:
        raise _not_found("message", message_id)
    return MessagePublic.of(message)
