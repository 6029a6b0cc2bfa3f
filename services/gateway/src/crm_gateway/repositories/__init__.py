"""The gateway's MongoDB data."""
