"""HTTP API of the events service."""
