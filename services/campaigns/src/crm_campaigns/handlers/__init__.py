"""Kafka edge of the campaigns service: the FastStream subscribers, thin, calling application/."""

from crm_campaigns.handlers.consent_mail import build_consent_mail_router
from crm_campaigns.handlers.projections import build_router

__all__ = ["build_consent_mail_router", "build_router"]
