"""The tenant admin's API: users (invite, list, change roles, address or name, remove), API keys
(create, list, revoke) and the tenant's admission rules. `users:read` / `users:write`: admins,
and API keys with those scopes; the team by name (`GET /team`) is for every role."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.responses import JSONResponse

from crm_gateway.api.audit_middleware import note_changes, note_created, record_consequence
from crm_gateway.api.deps import AuthenticatedPrincipal as TenantAdmin
from crm_gateway.api.deps import Container, console_sign_in_url
from crm_gateway.api.permissions import require_gateway_permission
from crm_gateway.api.tenancy_schemas import (
    AdmissionSettingsPut,
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyList,
    ApiKeyPublic,
    Invitation,
    InvitationResent,
    MemberList,
    MemberPublic,
    MemberUpdate,
    SignInSettingsBody,
    SignInSettingsRead,
    TeamList,
    TeamMember,
)
from crm_gateway.application.api_keys import InvalidKeyRequest, KeyNotFound, ScopeEscalation
from crm_gateway.application.users import (
    AlreadyMember,
    InvitationAddressFixed,
    MemberChange,
    MemberNotFound,
    NotInvited,
)
from crm_gateway.domain.api_keys import Revocation
from crm_gateway.domain.routing import PUBLIC_API_PREFIX
from crm_gateway.domain.users import AddressTaken, GrantRefused, LastAdminError, RolesFromToken
from crm_shared import (
    FieldError,
    Principal,
    ProblemError,
    problem_responses,
    reject_unknown_query_params,
    validation_problem,
)
from crm_shared.audit_changes import changed_fields

# A member's address and name are personal data: the audit entry says that they changed, never
# what they were or became (the log keeps no bodies, docs/security.md "Audit log").
MEMBER_PERSONAL_FIELDS = ("email", "name")

router = APIRouter(prefix=PUBLIC_API_PREFIX, tags=["administration"])
# A misspelt filter on a list is a 422, not the whole list (README "Query parameters").
_KNOWN_QUERY = Depends(reject_unknown_query_params)


def _no_member(user_id: str) -> ProblemError:
    return ProblemError(404, f"no user {user_id} in this tenant", problem_type="not-found")


def _grant_refused(refused: GrantRefused, caller: Principal) -> ProblemError:
    """403 naming the first permission the caller lacks (and all of them), as the permission
    check does: `insufficient-scope` for an API key, `forbidden` for a member."""
    roles = ", ".join(sorted(refused.roles))
    return ProblemError(
        403,
        f"granting {roles} needs {', '.join(refused.missing)}, which this caller does not hold: "
        "a caller grants only roles whose permissions it has itself",
        problem_type="insufficient-scope" if caller.scopes is not None else "forbidden",
        extensions={"permission": refused.missing[0], "missing_permissions": refused.missing},
    )


def _invalid_key(body: ApiKeyCreate, invalid: InvalidKeyRequest) -> ProblemError:
    """The 422 for a key's body: every unknown scope (`scopes.<index>`) and too long a life
    (`expires_in_days`) in one answer, not the first fault found."""
    unknown = set(invalid.unknown_scopes)
    errors = [
        FieldError(f"scopes.{index}", f"{scope} is no permission (`<family>:<read|write>`)")
        for index, scope in enumerate(body.scopes)
        if scope in unknown
    ]
    details = [f"not permissions: {', '.join(invalid.unknown_scopes)}"] if unknown else []
    if invalid.no_scopes:
        errors.append(FieldError("scopes", "give at least one permission"))
        details.append("no scopes given")
    if invalid.longest is not None:
        errors.append(
            FieldError("expires_in_days", f"must be at most {invalid.longest.days} (days)")
        )
        details.append(f"an API key lives at most {invalid.longest.days} days")
    return validation_problem(errors, "; ".join(details))


def _last_admin(email: str, what: str) -> ProblemError:
    """The 409 naming the admin by the address the tenant knows them by (their id means
    nothing to whoever reads it)."""
    return ProblemError(
        409,
        f"{what} {email} would leave this tenant without an active admin; make another "
        "member an admin first (or ask the platform operator to suspend the tenant)",
        problem_type="last-admin",
    )


@router.post(
    "/users",
    dependencies=[require_gateway_permission("users:write")],
    status_code=status.HTTP_201_CREATED,
    response_model=MemberPublic,
    responses=problem_responses(403, 409),
    summary="Invite a user",
)
async def invite_user(
    body: Invitation, admin: TenantAdmin, state: Container, request: Request, response: Response
) -> MemberPublic:
    """Invites a person by e-mail with roles: pending until they first sign in through the
    tenant's identity provider with that address verified, and mailed an invitation naming
    who invited them, their roles and the console's sign-in link (`user.invited`). The caller
    grants only roles whose permissions it holds (403 otherwise). `Location` names the new
    member (and so does the request's audit entry)."""
    try:
        member = await state.identity.user_administration.invite(
            admin.tenant_id,
            str(body.email),
            frozenset(body.roles),
            by=admin,
            sign_in_url=console_sign_in_url(request, state, admin.tenant_id),
        )
    except GrantRefused as refused:
        raise _grant_refused(refused, admin) from None
    except AlreadyMember:
        raise ProblemError(
            409, f"{body.email} is a member or invited already", problem_type="conflict"
        ) from None
    response.headers["Location"] = f"{PUBLIC_API_PREFIX}/users/{member.user.user_id}"
    return MemberPublic.of(member)


@router.get(
    "/users",
    dependencies=[require_gateway_permission("users:read"), _KNOWN_QUERY],
    response_model=MemberList,
    summary="List users",
)
async def list_users(admin: TenantAdmin, state: Container) -> MemberList:
    """The tenant's members and pending invitations."""
    members = await state.identity.user_administration.list(admin.tenant_id)
    return MemberList(items=[MemberPublic.of(member) for member in members])


@router.get(
    "/team",
    dependencies=[require_gateway_permission("settings:read"), _KNOWN_QUERY],
    response_model=TeamList,
    summary="List the team by name",
)
async def list_team(member: TenantAdmin, state: Container) -> TeamList:
    """Every member's id and name, and nothing else (no address, no roles): what a page needs
    to show who did something (a note's author, a candidate's owner). Every role may read it
    (`settings:read`); the full member list stays with `users:read`."""
    members = await state.identity.user_administration.list(member.tenant_id)
    return TeamList(items=[TeamMember.of(m) for m in members])


@router.get(
    "/users/{user_id}",
    dependencies=[require_gateway_permission("users:read")],
    response_model=MemberPublic,
    summary="Read a user",
)
async def read_user(user_id: str, admin: TenantAdmin, state: Container) -> MemberPublic:
    try:
        return MemberPublic.of(
            await state.identity.user_administration.get(admin.tenant_id, user_id)
        )
    except MemberNotFound:
        raise _no_member(user_id) from None


@router.patch(
    "/users/{user_id}",
    dependencies=[require_gateway_permission("users:write")],
    response_model=MemberPublic,
    responses=problem_responses(403, 409),
    summary="Change a user's roles, address or name",
)
async def change_user(
    user_id: str, body: MemberUpdate, admin: TenantAdmin, state: Container, request: Request
) -> MemberPublic:
    """Changes a member's roles, the address this tenant knows them by (unique in the tenant,
    as for invitations; an active member's only, since they sign in by their identity) or their
    display name here. The last active admin cannot be demoted (409). Roles are refused (409
    `roles-from-identity-provider`) where the tenant takes them from its identity provider's
    tokens, and roles added must be ones whose permissions the caller holds (403)."""
    change = MemberChange(
        roles=None if body.roles is None else frozenset(body.roles),
        email=None if body.email is None else str(body.email),
        name=body.name,
    )
    try:
        # Read first for the audit entry's before values (a change racing this one may make
        # them stale; the after values are what this change stored).
        before = await state.identity.user_administration.get(admin.tenant_id, user_id)
        member = await state.identity.user_administration.change(
            admin.tenant_id, user_id, change, by=admin
        )
    except MemberNotFound:
        raise _no_member(user_id) from None
    except LastAdminError as last:
        raise _last_admin(last.email, "demoting") from None
    except RolesFromToken:
        raise ProblemError(
            409,
            "this tenant takes members' roles from its identity provider's tokens "
            "(sign-in settings: roles_from_token), so a role set here would be overwritten at "
            "the member's next sign-in: change the member's groups or roles at the identity "
            "provider, or turn roles_from_token off (PUT /api/v1/sign-in-settings/admission) "
            "to manage roles in the CRM",
            problem_type="roles-from-identity-provider",
        ) from None
    except GrantRefused as refused:
        raise _grant_refused(refused, admin) from None
    except AddressTaken:
        raise ProblemError(
            409,
            f"{body.email} belongs to another member, invitation or removed member of this tenant",
            problem_type="conflict",
        ) from None
    except InvitationAddressFixed:
        raise ProblemError(
            409,
            "a pending invitation's address is the one the person signs in with: remove the "
            "invitation and invite the new address",
            problem_type="conflict",
        ) from None
    changed = MemberPublic.of(member)
    note_changes(
        request,
        changed_fields(
            MemberPublic.of(before).model_dump(mode="json"),
            changed.model_dump(mode="json"),
            secrets=MEMBER_PERSONAL_FIELDS,
        ),
    )
    return changed


@router.delete(
    "/users/{user_id}",
    dependencies=[require_gateway_permission("users:write")],
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(409),
    summary="Remove a user",
)
async def remove_user(
    user_id: str, admin: TenantAdmin, state: Container, request: Request
) -> Response:
    """Removes the person from the tenant: their tokens, still valid at their provider, are
    refused with a 403 from now on, and they are not provisioned again on sign-in. The API keys
    they created (and keys those keys created) are revoked (`creator_removed`), each revocation
    in the audit log; re-inviting the person does not bring them back. The last active admin
    cannot be removed (409), not even by themselves."""
    try:
        revoked = await state.identity.user_administration.remove(admin.tenant_id, user_id)
    except MemberNotFound:
        raise _no_member(user_id) from None
    except LastAdminError as last:
        raise _last_admin(last.email, "removing") from None
    for key in revoked:
        record_consequence(
            request,
            "DELETE",
            "/api-keys/{key_id}",
            {"key_id": key.key_id, "user_id": user_id},
            Revocation.CREATOR_REMOVED.value,
        )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/users/{user_id}/invitation",
    dependencies=[require_gateway_permission("users:write")],
    status_code=status.HTTP_202_ACCEPTED,
    response_model=InvitationResent,
    responses=problem_responses(403, 404, 409),
    summary="Mail an invitation again",
)
async def resend_invitation(
    user_id: str, admin: TenantAdmin, state: Container, request: Request
) -> InvitationResent:
    """Mails a pending invitation again, for an invitee whose mail was lost, suppressed or
    failed (`GET /invitation-mails?user_id=` says which): a new `user.invited` with a new
    `invitation_id`, mailed once like the first. 409 `not-invited` once the person has signed
    in; the caller must hold the permissions of the invitation's roles (403), as to invite."""
    try:
        invitation = await state.identity.user_administration.resend_invitation(
            admin.tenant_id,
            user_id,
            by=admin,
            sign_in_url=console_sign_in_url(request, state, admin.tenant_id),
        )
    except MemberNotFound:
        raise _no_member(user_id) from None
    except NotInvited:
        raise ProblemError(
            409,
            f"user {user_id} has signed in already: there is no invitation to mail again",
            problem_type="not-invited",
        ) from None
    except GrantRefused as refused:
        raise _grant_refused(refused, admin) from None
    return InvitationResent(
        user_id=invitation.user_id,
        invitation_id=invitation.invitation_id,
        invited_at=invitation.invited_at,
    )


@router.post(
    "/api-keys",
    dependencies=[require_gateway_permission("users:write")],
    status_code=status.HTTP_201_CREATED,
    response_model=ApiKeyCreated,
    summary="Create an API key",
)
async def create_api_key(
    body: ApiKeyCreate, admin: TenantAdmin, state: Container, request: Request
) -> JSONResponse:
    """A key for an internal system, with scopes and an expiry. The key is in this answer only
    (`Cache-Control: no-store`); the gateway keeps its SHA-256."""
    try:
        created = await state.identity.key_administration.create(
            admin.tenant_id,
            created_by=admin.user_id,
            name=body.name,
            scopes=body.scopes,
            lifetime=timedelta(days=body.expires_in_days),
        )
    except InvalidKeyRequest as invalid:
        raise _invalid_key(body, invalid) from None
    except ScopeEscalation:
        raise ProblemError(
            403,
            "an API key may create keys only with scopes it holds itself",
            problem_type="insufficient-scope",
        ) from None
    note_created(request, created.key.key_id)
    answer = ApiKeyCreated(**ApiKeyPublic.of(created.key).model_dump(), key=created.plaintext)
    return JSONResponse(
        answer.model_dump(mode="json"),
        status_code=status.HTTP_201_CREATED,
        headers={"Cache-Control": "no-store"},
    )


@router.get(
    "/api-keys",
    dependencies=[require_gateway_permission("users:read"), _KNOWN_QUERY],
    response_model=ApiKeyList,
    summary="List API keys",
)
async def list_api_keys(admin: TenantAdmin, state: Container) -> ApiKeyList:
    """The tenant's keys, revoked and expired ones included (never their secrets)."""
    keys = await state.identity.key_administration.list(admin.tenant_id)
    return ApiKeyList(items=[ApiKeyPublic.of(key) for key in keys])


@router.delete(
    "/api-keys/{key_id}",
    dependencies=[require_gateway_permission("users:write")],
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke an API key",
)
async def revoke_api_key(key_id: str, admin: TenantAdmin, state: Container) -> Response:
    """Revokes a key: refused with a 401 from now on (on every gateway replica within
    `IDENTITY_CACHE_SECONDS`). The key stays listed, with its revocation time."""
    try:
        await state.identity.key_administration.revoke(admin.tenant_id, key_id)
    except KeyNotFound:
        raise ProblemError(404, f"no API key {key_id}", problem_type="not-found") from None
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/sign-in-settings",
    dependencies=[require_gateway_permission("users:read")],
    response_model=SignInSettingsRead,
    summary="Sign-in settings",
)
async def read_sign_in_settings(admin: TenantAdmin, state: Container) -> SignInSettingsRead:
    """The tenant's identity provider (set by the platform operator) and admission rules, with
    `warnings` naming what the rules risk (anyone from any domain joining as an admin)."""
    tenant = await state.identity.tenant_administration.get(admin.tenant_id)
    return SignInSettingsRead.of_settings(tenant.sign_in)


@router.put(
    "/sign-in-settings/admission",
    dependencies=[require_gateway_permission("users:write")],
    response_model=SignInSettingsRead,
    responses=problem_responses(403),
    summary="Set who joins on first sign-in",
)
async def set_admission(
    body: AdmissionSettingsPut, admin: TenantAdmin, state: Container, request: Request
) -> SignInSettingsRead:
    """E-mail domain rules, just-in-time provisioning and its default role, and whether roles
    come from the token. Every field is required (a PUT replaces the whole admission); a new
    default role must be one whose permissions the caller holds (403). Risky settings are
    saved, and the answer's `warnings` say what they risk (anyone from any e-mail domain
    joining with admin-level permissions)."""
    before = await state.identity.tenant_administration.get(admin.tenant_id)
    try:
        tenant = await state.identity.tenant_administration.set_admission(
            admin.tenant_id,
            email_domains=tuple(body.email_domains),
            jit_provisioning=body.jit_provisioning,
            default_role=body.default_role,
            roles_from_token=body.roles_from_token,
            by=admin,
        )
    except GrantRefused as refused:
        raise _grant_refused(refused, admin) from None
    note_changes(
        request,
        changed_fields(
            SignInSettingsBody.of(before.sign_in).model_dump(mode="json"),
            SignInSettingsBody.of(tenant.sign_in).model_dump(mode="json"),
        ),
    )
    return SignInSettingsRead.of_settings(tenant.sign_in)
