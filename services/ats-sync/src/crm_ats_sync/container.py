"""Everything `create_app` builds for the ats-sync service's routes and subscribers."""

from __future__ import annotations

from dataclasses import dataclass

from crm_ats_sync.application.storage import AtsStorage


@dataclass(frozen=True)
class AtsSyncContainer:
    """The ats-sync service's wiring: what its use cases work with, and where it is reached."""

    storage: AtsStorage
    # The public address webhook URLs are built from, without a trailing slash.
    public_base_url: str
