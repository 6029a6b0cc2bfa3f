"""Runs the recruitment CRM's local infrastructure and services as real processes."""
