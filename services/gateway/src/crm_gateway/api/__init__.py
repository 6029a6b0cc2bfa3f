"""The public HTTP API the gateway serves."""
