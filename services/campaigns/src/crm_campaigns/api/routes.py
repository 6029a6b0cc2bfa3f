"""Routes of the campaigns API: templates, sequences, enrolments and messages."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from crm_campaigns.api.schemas import (
    EnrolmentPublic,
    MessagePublic,
    SequenceCreate,
    SequencePublic,
    TemplateCreate,
    TemplatePreview,
    TemplatePreviewRequest,
    TemplatePublic,
)
from crm_campaigns.domain.models import Enrolment, SendStep, Sequence, Template
from crm_campaigns.domain.templates import (
    TemplateError,
    recipient_context,
    render,
    validate_template,
)
from crm_campaigns.repository import (
    EnrolmentRepository,
    EnrolmentsRepo,
    MessagesRepo,
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
    request: Request,
    response: Response,
) -> TemplatePublic:
    """Saves a template after checking its syntax and every merge field it uses."""
    try:
        validate_template({"subject": body.subject, "html": body.html, "text": body.text})
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
) -> TemplatePreview:
    """The template rendered for one candidate, as they would receive it (without tracking)."""
    template = await templates.get(template_id)
    if template is None:
        raise _not_found("template", template_id)
    recipient = await recipients.get(body.candidate_id)
    if recipient is None:
        raise _not_found("candidate", body.candidate_id)
    rendered = render(
        template.subject,
        template.html,
        template.text,
        recipient_context(recipient),
    )
    return TemplatePreview(subject=rendered.subject, html=rendered.html, text=rendered.text)


@router.post("/sequences", status_code=201, response_model=SequencePublic, tags=["sequences"])
async def create_sequence(
    body: SequenceCreate,
    principal: CurrentPrincipal,
    sequences: SequencesRepo,
    templates: TemplatesRepo,
    request: Request,
    response: Response,
) -> SequencePublic:
    """Creates a sequence; its segment's members (optionally) and every later entrant enrol."""
    for index, step in enumerate(body.steps):
        if isinstance(step, SendStep) and await templates.get(step.template_id) is None:
            raise _invalid(
                f"step {index} sends template {step.template_id}, which does not exist",
                [{"field": f"steps.{index}.template_id", "detail": "unknown template"}],
            )
    sequence = Sequence(
        tenant_id=principal.tenant_id,
        created_by=principal.user_id,
        name=body.name,
        trigger=body.trigger,
        steps=body.steps,
    )
    platform: Platform = request.app.state.platform
    database = platform.require_database()

    async def store(session: Session) -> None:
        await sequences.add(sequence, session=session)
        if not body.enrol_current_members:
            return
        members = SegmentMemberRepository(database, principal.tenant_id)
        enrolments = EnrolmentRepository(database, principal.tenant_id)
        for candidate_id in await members.members(body.trigger.segment_id, session=session):
            enrolment = Enrolment(
                tenant_id=principal.tenant_id, sequence_id=sequence.id, candidate_id=candidate_id
            )
            await enrolments.enrol(enrolment, current_trace_context(), session=session)

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
    sequence_id: str, sequences: SequencesRepo, enrolments: EnrolmentsRepo
) -> list[EnrolmentPublic]:
    """The candidates enrolled in a sequence and where each stands (first 1000)."""
    if await sequences.get(sequence_id) is None:
        raise _not_found("sequence", sequence_id)
    return [
        EnrolmentPublic.model_validate(e.model_dump())
        for e in await enrolments.of_sequence(sequence_id)
    ]


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
    return Page[MessagePublic](
        items=[MessagePublic.model_validate(m.model_dump()) for m in items], next_cursor=next_cursor
    )


@router.get("/messages/{message_id}", response_model=MessagePublic, tags=["messages"])
async def get_message(message_id: str, messages: MessagesRepo) -> MessagePublic:
    """One message with its delivery status and engagement."""
    message = await messages.get(message_id)
    if message is None:
        raise _not_found("message", message_id)
    return MessagePublic.model_validate(message.model_dump())
