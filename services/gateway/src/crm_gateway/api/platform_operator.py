"""The platform operator's API: tenants (create, list, read, edit, suspend, reactivate, sign-in
settings). Authenticated by operator keys, never by a tenant's credentials."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, status

from crm_gateway.api.deps import Container, PlatformOperator, console_sign_in_url
from crm_gateway.api.tenancy_schemas import (
    AdminInvitation,
    MemberPublic,
    SignInSettingsPut,
    TenantCreate,
    TenantList,
    TenantPublic,
    TenantUpdate,
)
from crm_gateway.application.tenants import (
    CommunityKeyTaken,
    IssuerConflict,
    TenantAdministration,
    TenantExists,
    TenantNotFound,
)
from crm_gateway.application.users import AlreadyMember
from crm_gateway.domain.routing import PUBLIC_API_PREFIX
from crm_gateway.domain.tenants import Tenant, TenantStatus
from crm_shared import (
    ProblemError,
    operator_operation,
    problem_responses,
    reject_unknown_query_params,
)

router = APIRouter(
    prefix=f"{PUBLIC_API_PREFIX}/platform/tenants",
    tags=["platform"],
    dependencies=[operator_operation()],
)


def _administration(state: Container) -> TenantAdministration:
    return state.identity.tenant_administration


def _not_found(tenant_id: str) -> ProblemError:
    return ProblemError(404, f"no tenant {tenant_id}", problem_type="not-found")


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=TenantPublic,
    responses=problem_responses(409),
    summary="Create a tenant",
)
async def create_tenant(
    body: TenantCreate, operator: PlatformOperator, state: Container
) -> TenantPublic:
    """A new, active tenant. Its people sign in once its sign-in settings name their identity
    provider; the operator invites its first admin (`POST .../{tenant_id}/admins`)."""
    tenant = Tenant(
        tenant_id=body.tenant_id,
        name=body.name,
        community_key=body.community_key,
        sign_in=body.sign_in.settings(),
    )
    try:
        created = await _administration(state).create(tenant)
    except TenantExists:
        raise ProblemError(
            409, f"tenant {body.tenant_id} exists already", problem_type="conflict"
        ) from None
    except IssuerConflict as conflict:
        raise ProblemError(409, str(conflict), problem_type="issuer-conflict") from None
    except CommunityKeyTaken as taken:
        raise ProblemError(409, str(taken), problem_type="conflict") from None
    return TenantPublic.of(created)


@router.get(
    "",
    response_model=TenantList,
    dependencies=[Depends(reject_unknown_query_params)],
    summary="List tenants",
)
async def list_tenants(operator: PlatformOperator, state: Container) -> TenantList:
    return TenantList(items=[TenantPublic.of(t) for t in await _administration(state).list()])


@router.get("/{tenant_id}", response_model=TenantPublic, summary="Read a tenant")
async def read_tenant(tenant_id: str, operator: PlatformOperator, state: Container) -> TenantPublic:
    try:
        return TenantPublic.of(await _administration(state).get(tenant_id))
    except TenantNotFound:
        raise _not_found(tenant_id) from None


@router.patch(
    "/{tenant_id}",
    response_model=TenantPublic,
    responses=problem_responses(409),
    summary="Edit a tenant",
)
async def edit_tenant(
    tenant_id: str, body: TenantUpdate, operator: PlatformOperator, state: Container
) -> TenantPublic:
    try:
        edited = await _administration(state).edit(
            tenant_id, name=body.name, community_key=body.community_key
        )
    except TenantNotFound:
        raise _not_found(tenant_id) from None
    except CommunityKeyTaken as taken:
        raise ProblemError(409, str(taken), problem_type="conflict") from None
    return TenantPublic.of(edited)


@router.post("/{tenant_id}/suspend", response_model=TenantPublic, summary="Suspend a tenant")
async def suspend_tenant(
    tenant_id: str, operator: PlatformOperator, state: Container
) -> TenantPublic:
    """Every caller of the tenant (members, keys, development tokens) is refused with a 403,
    on every gateway replica within `IDENTITY_CACHE_SECONDS`."""
    return await _set_status(state, tenant_id, TenantStatus.SUSPENDED)


@router.post("/{tenant_id}/reactivate", response_model=TenantPublic, summary="Reactivate a tenant")
async def reactivate_tenant(
    tenant_id: str, operator: PlatformOperator, state: Container
) -> TenantPublic:
    return await _set_status(state, tenant_id, TenantStatus.ACTIVE)


async def _set_status(state: Container, tenant_id: str, new: TenantStatus) -> TenantPublic:
    try:
        return TenantPublic.of(await _administration(state).set_status(tenant_id, new))
    except TenantNotFound:
        raise _not_found(tenant_id) from None


@router.put(
    "/{tenant_id}/sign-in",
    response_model=TenantPublic,
    responses=problem_responses(409),
    summary="Set a tenant's sign-in settings",
)
async def set_sign_in(
    tenant_id: str, body: SignInSettingsPut, operator: PlatformOperator, state: Container
) -> TenantPublic:
    """The tenant's identity provider (issuer, audience, claims) and admission rules. Every
    field is required (a PUT replaces the whole settings; null where none is meant): a field
    left out is a 422 naming it, never reset to its default."""
    try:
        tenant = await _administration(state).set_sign_in(tenant_id, body.settings())
    except TenantNotFound:
        raise _not_found(tenant_id) from None
    except IssuerConflict as conflict:
        raise ProblemError(409, str(conflict), problem_type="issuer-conflict") from None
    return TenantPublic.of(tenant)


@router.post(
    "/{tenant_id}/admins",
    status_code=status.HTTP_201_CREATED,
    response_model=MemberPublic,
    responses=problem_responses(409),
    summary="Invite a tenant's admin",
)
async def invite_admin(
    tenant_id: str,
    body: AdminInvitation,
    operator: PlatformOperator,
    state: Container,
    request: Request,
) -> MemberPublic:
    """Invites a person as an admin of the tenant (how a new tenant gets its first one): they
    become a member when they first sign in with the address, verified by the tenant's provider,
    and are mailed the invitation with the console's sign-in link (`user.invited`)."""
    try:
        await _administration(state).get(tenant_id)
        member = await state.identity.user_administration.invite(
            tenant_id,
            str(body.email),
            frozenset({"admin"}),
            sign_in_url=console_sign_in_url(request, state, tenant_id),
        )
    except TenantNotFound:
        raise _not_found(tenant_id) from None
    except AlreadyMember:
        raise ProblemError(
            409, f"{body.email} is a member or invited already", problem_type="conflict"
        ) from None
    return MemberPublic.of(member)
