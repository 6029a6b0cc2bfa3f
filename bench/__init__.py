"""Benchmarks of the recruitment CRM against the raw stack they run on (`python -m bench`)."""
