"""Use cases of the ats-sync service, one module per capability."""
