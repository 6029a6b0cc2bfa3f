"""Everything `create_app` builds for the console's pages."""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.templating import Jinja2Templates

from crm_console.adapters.gateway_api import GatewayApi
from crm_console.application.session_memo import SessionMemo
from crm_console.config import ConsoleSettings


@dataclass(frozen=True)
class ConsoleContainer:
    settings: ConsoleSettings
    gateway: GatewayApi
    templates: Jinja2Templates
    # What a session read a moment ago (the team, the profile's candidate), for the parts of
    # one page that need it again: never shared across sessions or tenants.
    memo: SessionMemo = field(default_factory=SessionMemo)
