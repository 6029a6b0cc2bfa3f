"""Routes of contact governance: the suppression list, the contact policy, inbound mail URLs, the
tenant's sender."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse

from crm_campaigns.adapters.senders import Senders
from crm_campaigns.api.deps import ContactPoliciesDep, Container, SuppressionListDep
from crm_campaigns.api.schemas import (
    ContactPolicyPublic,
    ContactPolicyPut,
    DkimRecordPublic,
    InboundMailUrls,
    SenderAccountPublic,
    SenderSettingsPublic,
    SuppressionCreate,
    SuppressionPublic,
)
from crm_campaigns.domain.contact_policy import ContactPolicy
from crm_campaigns.domain.inbound_mail import INBOUND_PURPOSE
from crm_campaigns.domain.suppression import ListReason, Suppression, email_sha256
from crm_shared import (
    MAX_PAGE_SIZE,
    CurrentPrincipal,
    LinkClaim,
    Page,
    ProblemError,
    SignedLinks,
    decode_cursor,
    first_page_of,
    reject_unknown_query_params,
    require_permission,
)
from crm_shared.audit_changes import changed_fields, changes_header
from crm_shared.csv_export import CsvSeparator, csv_line

router = APIRouter(
    # A misspelt filter (`?emial=`) is a 422 naming it, not a silently wider list.
    dependencies=[Depends(reject_unknown_query_params)]
)


def _public(suppression: Suppression, names: dict[str, str] | None = None) -> SuppressionPublic:
    name = (names or {}).get(suppression.candidate_id or "")
    return SuppressionPublic.model_validate({**suppression.model_dump(), "candidate_name": name})


EmailFilter = Annotated[str | None, Query(description="Only this address (matched by hash).")]
CandidateFilter = Annotated[
    str | None,
    Query(
        description="Only the entries of this candidate: those naming them, and those of any "
        "of their addresses (as campaigns knows them) that name nobody else.",
        max_length=100,
    ),
]


@router.get(
    "/suppressions",
    dependencies=[require_permission("settings:read")],
    response_model=Page[SuppressionPublic],
    tags=["governance"],
)
async def list_suppressions(
    suppressions: SuppressionListDep,
    email: EmailFilter = None,
    reason: ListReason | None = None,
    candidate_id: CandidateFilter = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page")] = None,
) -> Page[SuppressionPublic]:
    """The tenant's suppression list, oldest first; `email` finds one address, `candidate_id`
    one person's entries. Each entry naming a candidate carries their name (one read a page)."""
    after = decode_cursor(cursor) if cursor else None
    found = await suppressions.page(
        email_sha256=email_sha256(email) if email else None,
        reason=reason,
        after=after,
        limit=limit + 1,
        candidate_id=candidate_id,
    )
    items, next_cursor = first_page_of(found, limit, lambda suppression: suppression.id)
    names = await suppressions.names(items)
    return Page[SuppressionPublic](
        items=[_public(s, names) for s in items], next_cursor=next_cursor
    )


EXPORT_COLUMNS = (
    "id",
    "listed_at",
    "reason",
    "source",
    "candidate_id",
    "candidate_name",
    "note",
    "message_id",
    "email_sha256",
)
EXPORT_BATCH = 500


@router.get(
    "/suppressions.csv",
    dependencies=[require_permission("settings:read")],
    response_class=StreamingResponse,
    tags=["governance"],
    responses={
        200: {
            "content": {"text/csv": {}},
            "description": "Every matching entry, oldest first, as CSV (UTF-8 with BOM; cells "
            "a spreadsheet would read as formulas are prefixed with `'`).",
        }
    },
)
async def export_suppressions(
    suppressions: SuppressionListDep,
    email: EmailFilter = None,
    reason: ListReason | None = None,
    candidate_id: CandidateFilter = None,
    separator: Annotated[
        CsvSeparator,
        Query(description="`comma` (RFC 4180), or `semicolon` for Excel where `,` is decimal."),
    ] = CsvSeparator.COMMA,
) -> StreamingResponse:
    """The suppression list as a CSV file, with the list's filters: one row per entry, with
    the candidate's id and name where the entry names one."""
    dialect = separator.dialect

    async def lines() -> AsyncIterator[str]:
        yield "\ufeff" + csv_line(EXPORT_COLUMNS, dialect)
        async for batch in suppressions.walk(
            email_sha256=email_sha256(email) if email else None,
            reason=reason,
            candidate_id=candidate_id,
            batch=EXPORT_BATCH,
        ):
            names = await suppressions.names(batch)
            for entry in batch:
                yield csv_line(
                    [
                        entry.id,
                        entry.created_at.isoformat(),
                        entry.reason.value,
                        entry.source,
                        entry.candidate_id,
                        names.get(entry.candidate_id or ""),
                        entry.note,
                        entry.message_id,
                        entry.email_sha256,
                    ],
                    dialect,
                )

    return StreamingResponse(
        lines(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="suppressions.csv"'},
    )


@router.post(
    "/suppressions",
    dependencies=[require_permission("settings:write")],
    status_code=201,
    response_model=SuppressionPublic,
    tags=["governance"],
    responses={
        200: {
            "model": SuppressionPublic,
            "description": "The address was suppressed already: the existing entry.",
        }
    },
)
async def add_suppression(
    body: SuppressionCreate,
    principal: CurrentPrincipal,
    suppressions: SuppressionListDep,
    request: Request,
    response: Response,
) -> SuppressionPublic:
    """Suppresses an address; answers 200 with the existing entry if it already was
    (`settings:write`: it silences the address for every colleague)."""
    digest = email_sha256(body.email)
    entry = Suppression(
        tenant_id=principal.tenant_id,
        email_sha256=digest,
        reason=body.reason,
        source=f"user:{principal.user_id}",
        note=body.note,
    )
    if not await suppressions.add(entry):
        response.status_code = 200
    [stored] = await suppressions.page(email_sha256=digest, reason=body.reason, after=None, limit=1)
    response.headers["Location"] = f"{request.url.path.rstrip('/')}/{stored.id}"
    return _public(stored, await suppressions.names([stored]))


@router.get(
    "/suppressions/{suppression_id}",
    dependencies=[require_permission("settings:read")],
    response_model=SuppressionPublic,
    tags=["governance"],
)
async def get_suppression(
    suppression_id: str, suppressions: SuppressionListDep
) -> SuppressionPublic:
    """One suppression, listed or lifted (then with `lifted_at` and `lifted_by`): the id an
    audit entry of a lift names still says what was lifted."""
    found = await suppressions.get(suppression_id)
    if found is None:
        raise ProblemError(404, f"no suppression {suppression_id}", problem_type="not-found")
    return _public(found, await suppressions.names([found]))


@router.delete(
    "/suppressions/{suppression_id}",
    status_code=204,
    dependencies=[require_permission("settings:write")],
    tags=["governance"],
)
async def delete_suppression(
    suppression_id: str, principal: CurrentPrincipal, suppressions: SuppressionListDep
) -> Response:
    """Lifts a suppression (`settings:write`): the address may be mailed again under the rules.
    The entry is kept as it was listed, with who lifted it and when (`GET` by its id)."""
    if not await suppressions.lift(suppression_id, f"user:{principal.user_id}"):
        raise ProblemError(404, f"no suppression {suppression_id}", problem_type="not-found")
    return Response(status_code=204)


@router.get(
    "/settings/contact-policy",
    dependencies=[require_permission("settings:read")],
    response_model=ContactPolicyPublic,
    tags=["governance"],
)
async def get_contact_policy(policies: ContactPoliciesDep) -> ContactPolicyPublic:
    """The frequency cap and quiet hours, and how often they deferred or skipped a message."""
    policy = await policies.get()
    return ContactPolicyPublic(
        **policy.model_dump(), outcomes=await policies.outcomes(), release=await policies.release()
    )


@router.put(
    "/settings/contact-policy",
    response_model=ContactPolicyPublic,
    dependencies=[require_permission("settings:write")],
    tags=["governance"],
)
async def put_contact_policy(
    body: ContactPolicyPut,
    principal: CurrentPrincipal,
    policies: ContactPoliciesDep,
    response: Response,
) -> ContactPolicyPublic:
    """Sets the tenant's contact policy (`settings:write`); it applies from the next send. A
    PUT replaces the whole policy: every field is required (422 naming those left out). A
    changed cap or quiet hours re-evaluates the mail held under the old ones in the background
    (`release` says how many were held and, as it goes, how many go out sooner). The fields it
    changed, before and after, go to the gateway's audit log (`X-Audit-Changes`)."""
    before = await policies.get()
    policy = ContactPolicy.model_validate(body.model_dump())
    await policies.put(policy, principal.user_id)
    response.headers.update(
        changes_header(
            changed_fields(before.model_dump(mode="json"), policy.model_dump(mode="json"))
        )
    )
    return ContactPolicyPublic(
        **body.model_dump(), outcomes=await policies.outcomes(), release=await policies.release()
    )


@router.get(
    "/settings/inbound-mail",
    response_model=InboundMailUrls,
    dependencies=[require_permission("settings:write")],
    tags=["governance"],
)
async def inbound_mail_urls(principal: CurrentPrincipal, container: Container) -> InboundMailUrls:
    """The tenant's URLs for bounce and reply reports (`settings:write`: they are credentials)."""
    links: SignedLinks = container.signed_links
    token = links.token(LinkClaim(INBOUND_PURPOSE, principal.tenant_id, principal.tenant_id))
    base = f"{container.public_base_url.rstrip('/')}/public/v1/mail/{token}"
    return InboundMailUrls(
        dsn_url=f"{base}/bounces",
        postmark_bounce_url=f"{base}/postmark/bounces",
        postmark_inbound_url=f"{base}/postmark/inbound",
        replies_url=f"{base}/replies",
        ses_url=f"{base}/ses",
    )


@router.get(
    "/settings/sender",
    response_model=SenderSettingsPublic,
    dependencies=[require_permission("settings:write")],
    tags=["governance"],
)
async def sender_settings(
    principal: CurrentPrincipal, container: Container
) -> SenderSettingsPublic:
    """How the tenant's mail goes out: its From address, the DKIM record to publish in DNS and
    its own mail server account, if any (`settings:write`)."""
    senders: Senders = container.senders
    profile = senders.for_tenant(principal.tenant_id)
    signer, account = profile.signer, profile.account
    return SenderSettingsPublic(
        own_sender=senders.has_own(principal.tenant_id),
        sender=profile.sender,
        envelope_sender=account.envelope_sender if account else senders.envelope_sender,
        dkim=DkimRecordPublic(
            domain=signer.domain,
            selector=signer.selector,
            dns_name=signer.dns_name,
            dns_txt=signer.dns_record(),
        )
        if signer
        else None,
        account=SenderAccountPublic(
            host=account.server.host,
            port=account.server.port,
            security=account.server.security.value,
            username=account.server.username,
            rate_per_second=account.server.rate_per_second,
        )
        if account
        else None,
    )
