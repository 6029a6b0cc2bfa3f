"""Everything `create_app` builds for the console's pages."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.templating import Jinja2Templates

from crm_console.adapters.gateway_api import GatewayApi
from crm_console.config import ConsoleSettings


@dataclass(frozen=True)
class ConsoleContainer:
    settings: ConsoleSettings
    gateway: GatewayApi
    templates: Jinja2Templates
