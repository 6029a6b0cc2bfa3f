"""Use cases of the events service, one module per capability."""
