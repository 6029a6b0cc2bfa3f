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
    gateway_timeout_seconds: float = Field(
        default=8.0,
        gt=0,
        description="How long the console waits for one API answer. Shorter than the gateway's "
        "`UPSTREAM_TIMEOUT_SECONDS` (10 s), which bounds the whole page: a slow report becomes "
        "its panel's reason and the rest of the page still renders, instead of the page "
        "timing out.",
    )
    default_tenant: str = Field(
        default="",
        max_length=64,
        description="The organisation the sign-in page suggests (the local stack: `acme`).",
    )
