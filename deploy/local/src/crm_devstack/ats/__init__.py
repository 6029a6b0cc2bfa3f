"""Simulated ATS accounts (real HTTP servers) for tests and the demo: one module per ATS."""
