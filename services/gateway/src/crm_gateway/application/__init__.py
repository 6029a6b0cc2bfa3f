"""The gateway's use cases."""
