"""The permission check of the gateway's own operations (the services check theirs)."""

from __future__ import annotations

from typing import Any

from crm_gateway.api.deps import authenticated_principal
from crm_shared import Permission, require_permission


def require_gateway_permission(permission: Permission) -> Any:
    """FastAPI dependency: a 403 problem naming `permission` unless the caller the gateway
    authenticated holds it (crm_shared.permissions.ROLE_PERMISSIONS)."""
    return require_permission(permission, authenticated_principal)
