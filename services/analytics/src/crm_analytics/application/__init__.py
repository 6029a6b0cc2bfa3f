"""Use cases of the analytics service, one module per capability."""
