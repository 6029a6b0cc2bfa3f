"""Clients of the outside world: SMTP connections, tenant senders, SNS verification."""
