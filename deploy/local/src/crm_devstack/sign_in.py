"""How to sign in to the local stack, as `crm-stack up` and `crm-stack demo` print it: the
browser through Keycloak, and the non-interactive tokens for scripts."""

from __future__ import annotations

from enum import StrEnum

from .config import StackConfig
from .infra import LOCALHOST, http_ok
from .keycloak import CLIENT_ID, DEMO_TENANT, DEMO_USERS, Keycloak
from .stack import DEV_TOKENS, identity_provider

# The development token the examples use: the demo tenant's recruiter.
SCRIPT_TOKEN = next(
    token for token, identity in DEV_TOKENS.items() if identity["roles"] == ["recruiter"]
)


class KeycloakState(StrEnum):
    READY = "ready"
    STARTING = "starting"
    NOT_RUNNING = "not running"


def keycloak_state(keycloak: Keycloak) -> KeycloakState:
    """Whether the stack's Keycloak serves the demo realm, is still starting, or is not there."""
    if not keycloak.is_running():
        return KeycloakState.NOT_RUNNING
    return KeycloakState.READY if http_ok(keycloak.discovery_url) else KeycloakState.STARTING


def login_url(config: StackConfig) -> str:
    """Where a browser starts: the console, whose sign-in page suggests the demo tenant."""
    return f"http://{LOCALHOST}:{config.gateway_port}/console/"


_STATE_NOTES = {
    KeycloakState.READY: "Keycloak is ready",
    KeycloakState.STARTING: "Keycloak is still starting, a few minutes; `make status` shows "
    "it listening once it is",
    KeycloakState.NOT_RUNNING: "Keycloak is NOT running, so signing in fails (503 "
    "`identity-provider-unavailable`); the development tokens below work",
}


def sign_in_guide(config: StackConfig, state: KeycloakState | None = None) -> str:
    """The lines telling a developer how to sign in, for `up` and `demo` to print."""
    keycloak = identity_provider(config)
    state = keycloak_state(keycloak) if state is None else state
    gateway = f"http://{LOCALHOST}:{config.gateway_port}"
    users = "\n".join(
        f"    {username:<16} {password:<21} {role}"
        for username, (password, role) in DEMO_USERS.items()
    )
    return f"""Sign in with a browser. {_STATE_NOTES[state]}.
  open the console at {login_url(config)} (organisation `{DEMO_TENANT}`)
  as one of the demo realm's users (user, password, role):
{users}
Scripts: a development bearer token (no browser; `crm-stack demo` lists them all), e.g.
  curl -s {gateway}/api/v1/candidates -H 'Authorization: Bearer {SCRIPT_TOKEN}'
or a demo user's Keycloak access token:
  curl -s {keycloak.token_url} \\
       -d grant_type=password -d client_id={CLIENT_ID} \\
       -d username=rita.recruiter -d password={DEMO_USERS["rita.recruiter"][0]}
  (the answer's `access_token` is a bearer token the gateway accepts)
"""
