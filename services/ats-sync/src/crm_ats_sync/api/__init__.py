"""HTTP API of the ats-sync service."""
