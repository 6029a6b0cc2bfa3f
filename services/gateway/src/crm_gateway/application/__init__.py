"""Use cases of the gateway, one module per capability."""
