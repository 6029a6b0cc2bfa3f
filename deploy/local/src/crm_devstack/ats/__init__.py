"""Simulated ATS accounts (real HTTP servers speaking their documented APIs and webhooks)
for tests and the demo: one module per ATS."""
