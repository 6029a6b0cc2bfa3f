"""Simulated ATS accounts (their documented APIs and webhooks) for tests and the demo."""
