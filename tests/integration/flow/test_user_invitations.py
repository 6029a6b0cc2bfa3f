"""An admin invites a person through the gateway; the invitation travels as `user.invited`
through the real Kafka to campaigns, which mails it (SMTP sink) once."""

from __future__ import annotations

import pytest
from conftest import SmtpSink

from helpers import eventually, unique
from integration.flow.conftest import ACME_ADMIN_TOKEN, Stack

pytestmark = pytest.mark.integration


async def test_an_invited_person_is_mailed_who_invited_them_and_where_to_sign_in(
    stack: Stack, smtp_sink: SmtpSink
) -> None:
    address = f"{unique('invitee')}@example.org"

    invited = await stack.gateway.post(
        "/api/v1/users",
        headers=stack.as_(ACME_ADMIN_TOKEN),
        json={"email": address, "roles": ["recruiter", "marketer"]},
    )

    assert invited.status_code == 201, invited.text

    async def mailed() -> bool:
        return bool(smtp_sink.messages_to(address))

    await eventually(mailed, timeout=60, interval=0.2, message="the invitation was not mailed")
    [mail] = smtp_sink.messages_to(address)
    parsed = mail.parsed()
    assert parsed["Subject"] == "You are invited to Acme on Recruitment CRM"
    text = parsed.get_body(("plain",))
    assert text is not None
    body = text.get_content()
    assert "invited you to join Acme on Recruitment CRM as marketer and recruiter" in body
    assert f"{stack.gateway_url}/" in body
    # Refused: already invited. Nothing more is announced, so nothing more is mailed.
    again = await stack.gateway.post(
        "/api/v1/users",
        headers=stack.as_(ACME_ADMIN_TOKEN),
        json={"email": address, "roles": ["viewer"]},
    )
    assert again.status_code == 409, again.text
    assert len(smtp_sink.messages_to(address)) == 1
