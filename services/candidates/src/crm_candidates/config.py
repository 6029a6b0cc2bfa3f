"""Settings of the candidates service."""

from __future__ import annotations

from crm_shared import ServiceSettings


class CandidatesSettings(ServiceSettings):
    """Candidates service settings, read from the environment."""

    service_name: str = "candidates"
