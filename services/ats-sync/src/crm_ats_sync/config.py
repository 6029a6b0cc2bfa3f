"""Settings of the ats-sync service."""

from __future__ import annotations

from crm_shared import ServiceSettings


class AtsSyncSettings(ServiceSettings):
    """ATS sync settings, read from the environment."""

    service_name: str = "ats-sync"
    public_base_url: str = "http://127.0.0.1:8000"
