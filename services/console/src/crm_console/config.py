"""Settings of the console."""

from __future__ import annotations

from pydantic import Field

from crm_shared import ServiceSettings


class ConsoleSettings(ServiceSettings):
    """Console settings, read from the environment. The console holds no data of its own: it
    needs neither Kafka nor MongoDB, only the gateway it calls."""

    service_name: str = "console"
    gateway_url: str = Field(
        default="http://127.0.0.1:8000",
        description="Where the console reaches the gateway's public API (an internal address).",
    )
    gateway_timeout_seconds: float = Field(default=30.0, gt=0)
    default_tenant: str = Field(
        default="",
        max_length=64,
        description="The organisation the sign-in page suggests (the local stack: `acme`).",
    )
