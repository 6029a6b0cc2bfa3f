"""HTTP API of the analytics service."""
