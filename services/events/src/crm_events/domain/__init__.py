"""Recruiting events and registrations."""
