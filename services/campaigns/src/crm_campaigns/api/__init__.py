"""HTTP API of the campaigns service."""
