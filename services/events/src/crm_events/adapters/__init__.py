"""Formats and systems outside the events service: calendar invitations."""
