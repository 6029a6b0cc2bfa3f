"""Mails of the reports analytics compiles (`report.compiled`) to the staff the tenant chose:
one mail per (report, recipient), recorded with its outcome."""

from __future__ import annotations

import hashlib
from datetime import datetime
from email.message import EmailMessage
from email.utils import make_msgid
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from crm_campaigns.domain.mail import set_header
from crm_shared import ReportCompiled, utc_now


class ReportMailStatus(StrEnum):
    SENT = "sent"
    # Not sent: the address may get no mail (hard bounce, complaint, suppressed by hand, erased).
    SUPPRESSED = "suppressed"
    # The mail server refused it or could not be reached; retried with the event, then
    # dead-lettered.
    FAILED = "failed"


def report_mail_id(report_id: str, recipient: str) -> str:
    """One id per report and recipient: a redelivered report finds its mails by it."""
    digest = hashlib.sha256(f"{report_id}\n{recipient.lower()}".encode()).hexdigest()
    return f"report-mail-{digest[:32]}"


class ReportMail(BaseModel):
    """What was done with one report's mail to one staff recipient."""

    model_config = ConfigDict(frozen=True)

    id: str
    tenant_id: str
    report_id: str
    recipient: str = Field(description="The staff address (from the report's recipients).")
    status: ReportMailStatus
    reason: str | None = Field(default=None, description="Why it was suppressed, or the error.")
    attempts: int = 0
    recorded_at: datetime = Field(default_factory=utc_now)


def report_email(
    report: ReportCompiled, recipient: str, *, sender: str, mail_id: str, domain: str
) -> EmailMessage:
    """The report as analytics rendered it: plain text and HTML alternatives."""
    email = EmailMessage()
    email["From"] = sender
    email["To"] = recipient
    set_header(email, "Subject", report.subject)
    email["Message-ID"] = make_msgid(idstring=mail_id, domain=domain)
    email["X-CRM-Message-Id"] = mail_id
    email["X-CRM-Report-Id"] = report.report_id
    email["Auto-Submitted"] = "auto-generated"
    email.set_content(report.text_body)
    email.add_alternative(report.html_body, subtype="html")
    return email
