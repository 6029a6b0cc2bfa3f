"""An admin invites a person through the gateway; the invitation travels as `user.invited`
through the real Kafka to campaigns, which mails it (SMTP sink) once."""

from __future__ import annotations

import pytest
from conftest import SmtpSink

from helpers import eventually, unique
from integration.flow.conftest import ACME_ADMIN_TOKEN, GLOBEX_ADMIN_TOKEN, Stack

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


async def test_an_admin_sees_the_invitation_mailed_and_mails_it_again(
    stack: Stack, smtp_sink: SmtpSink
) -> None:
    admin = stack.as_(ACME_ADMIN_TOKEN)
    address = f"{unique('invitee')}@example.org"
    invited = await stack.gateway.post(
        "/api/v1/users", headers=admin, json={"email": address, "roles": ["viewer"]}
    )
    assert invited.status_code == 201, invited.text
    user_id = invited.json()["user_id"]

    async def mails_listed(count: int) -> list[dict[str, object]]:
        listed: list[dict[str, object]] = []

        async def recorded() -> bool:
            answer = await stack.gateway.get(
                "/api/v1/invitation-mails", headers=admin, params={"user_id": user_id}
            )
            assert answer.status_code == 200, answer.text
            listed[:] = answer.json()["items"]
            return len(listed) >= count

        await eventually(
            recorded,
            timeout=60,
            interval=0.2,
            message=lambda: f"{count} invitation mail(s) not listed (listed: {listed})",
        )
        return listed

    [first] = await mails_listed(1)
    assert (first["status"], first["user_id"]) == ("sent", user_id)

    resent = await stack.gateway.post(f"/api/v1/users/{user_id}/invitation", headers=admin)

    assert resent.status_code == 202, resent.text
    [_, again] = await mails_listed(2)
    assert (again["invitation_id"], again["status"]) == (resent.json()["invitation_id"], "sent")
    assert len(smtp_sink.messages_to(address)) == 2
    # Another tenant's admin sees none of them.
    others = await stack.gateway.get(
        "/api/v1/invitation-mails",
        headers=stack.as_(GLOBEX_ADMIN_TOKEN),
        params={"user_id": user_id},
    )
    assert (others.status_code, others.json()["items"]) == (200, [])
