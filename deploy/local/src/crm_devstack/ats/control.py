"""Serving a simulated ATS account as a process of the local stack, with a small control API.

The account exists before the CRM connection does, so the process cannot be told the
connection's webhook URL and secret on its command line. The demo tells it afterwards through
`PUT /admin/webhook` (an account that issues its own signing secrets, as Lever does, answers
them, for the demo to give the connection), and asks it for a few live changes (each sent as
the ATS's signed webhook) through `POST /admin/live-changes`. The control API listens on
loopback beside the simulated ATS API and, like the simulator, exists only in the local stack.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, HttpUrl

# The readiness probe `crm-stack` waits on.
READY_PATH = "/admin/ready"


@dataclass(frozen=True)
class KnownPerson:
    """Someone the demo tenant also holds, whom the simulated account gives past applications."""

    first_name: str
    last_name: str
    email: str


class ControlledAccount(Protocol):
    """What the control API needs of a simulated account."""

    def configure_webhooks(self, url: str, secret: str | None) -> Mapping[str, str] | None:
        """Posts webhooks to `url`, signed with `secret`; an account that issues its own
        signing secrets (Lever) does so without one and answers them, by event type. Raises
        `ValueError` for an account that needs `secret` and is not given one."""
        ...

    def live_changes(self) -> Awaitable[list[str]]: ...


class WebhookTarget(BaseModel):
    """Where the account posts its webhooks and the secret it signs them with (none: the
    account issues its own, where the ATS does)."""

    url: HttpUrl
    secret: str | None = None


def control_app(api: FastAPI, account: ControlledAccount) -> FastAPI:
    """The simulated ATS API (`api`, mounted at `/`) with the control routes under `/admin`."""
    app = FastAPI(title="Simulated ATS account", openapi_url=None)
    configured = False

    @app.get(READY_PATH)
    async def ready() -> dict[str, str]:
        return {"status": "ok"}

    @app.put("/admin/webhook", status_code=204)
    async def configure(target: WebhookTarget) -> Response:
        nonlocal configured
        try:
            issued = account.configure_webhooks(str(target.url), target.secret)
        except ValueError as refused:
            return JSONResponse({"message": str(refused)}, 422)
        configured = True
        if issued is not None and target.secret is None:
            return JSONResponse({"signature_tokens": dict(issued)})
        return Response(status_code=204)

    @app.post("/admin/live-changes")
    async def live_changes() -> Response:
        if not configured:
            return JSONResponse({"message": "configure the webhook first: PUT /admin/webhook"}, 409)
        return JSONResponse({"changes": await account.live_changes()})

    app.mount("/", api)
    return app


def known_people(count: int) -> list[KnownPerson]:
    """The first `count` of the demo tenant's people (the demo loads the same seeded list)."""
    from crm_devstack.demo import demo_people

    return [
        KnownPerson(person.first_name, person.last_name, person.email)
        for person in demo_people(count)
    ]


class SeededAccount(ControlledAccount, Protocol):
    """A simulated account the command line seeds and serves."""

    app: FastAPI

    def seed(self, n_applications: int, *, years: int = 4) -> None: ...

    def adopt(self, people: list[KnownPerson]) -> None: ...


def run(
    prog: str,
    port: int,
    api_key: str,
    account: Callable[[str], SeededAccount],
    argv: list[str] | None = None,
) -> None:
    """The `main()` of a simulated account: seeds one (`account(api_key)`) as the command line
    says and serves it, with its control API, until interrupted."""
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("--port", type=int, default=port)
    parser.add_argument("--api-key", default=api_key)
    parser.add_argument("--applications", type=int, default=2000)
    parser.add_argument("--years", type=int, default=4)
    parser.add_argument(
        "--known-people",
        type=int,
        default=0,
        help="give this many of the demo tenant's people past applications here",
    )
    args = parser.parse_args(argv)
    simulator = account(args.api_key)
    simulator.seed(args.applications, years=args.years)
    simulator.adopt(known_people(args.known_people))
    uvicorn.run(control_app(simulator.app, simulator), host="127.0.0.1", port=args.port)


def spread(
    people: Sequence[KnownPerson], silver: int
) -> tuple[list[KnownPerson], list[KnownPerson]]:
    """The people to make silver medallists (about one in `silver`), and the rest."""
    chosen = [person for index, person in enumerate(people) if index % silver == 0]
    rest = [person for index, person in enumerate(people) if index % silver != 0]
    return chosen, rest
