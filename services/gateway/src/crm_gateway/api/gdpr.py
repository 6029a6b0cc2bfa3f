"""GDPR export: everything every service holds on one person, in one document."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from crm_gateway.api.deps import AuthenticatedPrincipal, Container
from crm_gateway.api.permissions import require_gateway_permission
from crm_gateway.api.proxy import internal_authorization
from crm_gateway.application.gdpr_export import CandidateUnknown, ExportIncomplete, gather_export
from crm_gateway.domain.routing import PUBLIC_API_PREFIX
from crm_shared import ProblemError, utc_now

router = APIRouter(prefix=PUBLIC_API_PREFIX, tags=["gdpr"])


@router.get(
    "/candidates/{candidate_id}/export",
    dependencies=[require_gateway_permission("gdpr:read")],
    summary="GDPR export of a candidate",
)
async def export_candidate(
    candidate_id: str, principal: AuthenticatedPrincipal, state: Container
) -> JSONResponse:
    """Everything held on the person across every service (GDPR article 15), one section per
    service (`gdpr:read`: admins); an incomplete export is an error, never a partial answer."""

    def headers(service: str) -> dict[str, str]:
        return {"authorization": internal_authorization(state, principal, service)}

    try:
        sections = await gather_export(state.upstream, state.service_urls, candidate_id, headers)
    except CandidateUnknown:
        raise ProblemError(404, f"no candidate {candidate_id}", problem_type="not-found") from None
    except ExportIncomplete as incomplete:
        silent = ", ".join(incomplete.failed) or "candidates"
        raise ProblemError(
            502,
            f"the export is incomplete: no answer from {silent}",
            problem_type="upstream-unavailable",
        ) from None
    return JSONResponse(
        {
            "candidate_id": candidate_id,
            "tenant_id": principal.tenant_id,
            "exported_at": utc_now().isoformat(),
            "services": sections,
        },
        headers={"Cache-Control": "no-store"},
    )
