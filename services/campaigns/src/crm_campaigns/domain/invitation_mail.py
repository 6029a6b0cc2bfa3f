"""The mail that tells a person they were invited to a tenant's team (`user.invited`): who
invited them, as what, and where to sign in. One mail per invitation, recorded with its
outcome by address digest."""

from __future__ import annotations

import html
from datetime import datetime
from email.message import EmailMessage
from email.utils import make_msgid
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from crm_campaigns.domain.mail import set_header
from crm_shared import UserInvited, utc_now

PRODUCT_NAME = "Recruitment CRM"


class InvitationMailStatus(StrEnum):
    SENT = "sent"
    # Not sent: the address may get no mail (hard bounce, complaint, suppressed by hand, erased).
    SUPPRESSED = "suppressed"
    # The mail server refused it or could not be reached; retried with the event, then
    # dead-lettered.
    FAILED = "failed"


def invitation_mail_id(invitation_id: str) -> str:
    """One mail per invitation: a redelivered `user.invited` finds its mail by it."""
    return f"invitation-mail-{invitation_id}"


class InvitationMail(BaseModel):
    """What was done with one invitation's mail (the address only as its digest)."""

    model_config = ConfigDict(frozen=True)

    id: str
    tenant_id: str
    invitation_id: str
    user_id: str
    email_sha256: str
    status: InvitationMailStatus
    reason: str | None = Field(default=None, description="Why it was suppressed, or the error.")
    attempts: int = 0
    recorded_at: datetime = Field(default_factory=utc_now)


def _role_list(roles: list[str]) -> str:
    if len(roles) <= 1:
        return "".join(roles)
    return ", ".join(roles[:-1]) + " and " + roles[-1]


def invitation_email(
    invitation: UserInvited, *, sender: str, mail_id: str, domain: str
) -> EmailMessage:
    """The invitation: plain text and HTML alternatives naming the inviter, the roles and the
    sign-in link."""
    tenant = invitation.tenant_name
    inviter = invitation.invited_by_name or f"An administrator of {tenant}"
    roles = _role_list(invitation.roles)
    greeting = f"Hello {invitation.name}" if invitation.name else "Hello"
    invited = f"{inviter} invited you to join {tenant} on {PRODUCT_NAME} as {roles}."
    how = (
        f"Sign in with your organisation's account for {invitation.email}; "
        "your invitation is accepted the first time you sign in."
    )
    email = EmailMessage()
    email["From"] = sender
    email["To"] = invitation.email
    set_header(email, "Subject", f"You are invited to {tenant} on {PRODUCT_NAME}")
    email["Message-ID"] = make_msgid(idstring=mail_id, domain=domain)
    email["X-CRM-Message-Id"] = mail_id
    email["Auto-Submitted"] = "auto-generated"
    email.set_content(
        f"{greeting},\n\n{invited}\n\n{how}\n\nSign in: {invitation.sign_in_url}\n\n"
        "If you did not expect this invitation, you can ignore this mail.\n"
    )
    email.add_alternative(
        f"<html><body><p>{html.escape(greeting)},</p><p>{html.escape(invited)}</p>"
        f"<p>{html.escape(how)}</p>"
        f'<p><a href="{html.escape(invitation.sign_in_url)}">Sign in to '
        f"{html.escape(tenant)}</a></p>"
        "<p>If you did not expect this invitation, you can ignore this mail.</p>"
        "</body></html>",
        subtype="html",
    )
    return email
