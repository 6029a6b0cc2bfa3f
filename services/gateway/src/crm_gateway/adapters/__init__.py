"""Clients of systems outside the gateway: identity providers' published keys."""
