"""Mail to an address with non-ASCII letters, through the pool to the devstack's mail server
(aiosmtpd with SMTPUTF8, as Postfix and the large providers take it): the envelope goes by
SMTPUTF8 and the stored mail names the address readably, in marketing and transactional mail."""

from __future__ import annotations

from email import policy
from email.parser import Parser
from pathlib import Path

import pytest

from crm_campaigns.adapters.smtp import SmtpPool
from crm_campaigns.domain.mail import email_for, raw_email, smtp_bytes
from crm_campaigns.domain.models import Message
from crm_devstack.infra import free_ports
from crm_devstack.smtp_sink import SmtpSinkServer, read_messages

pytestmark = pytest.mark.integration

SENDER = "Ørsted Talent <talent@orsted.example>"
RECIPIENT = "josé@example.es"


def welcome() -> Message:
    return Message(
        id="b1-c1",
        tenant_id="acme",
        candidate_id="c1",
        template_id="t",
        to_email=RECIPIENT,
        subject="Välkommen, José",
        html="<p>Hola José</p>",
        text="Hola José",
    )


async def test_a_non_ascii_address_is_delivered_and_named_readably(tmp_path: Path) -> None:
    smtp_port, http_port = free_ports(2)
    directory = tmp_path / "messages"
    contents = [
        raw_email(welcome(), SENDER, "orsted.example"),
        smtp_bytes(email_for(welcome(), SENDER, "orsted.example")),
    ]
    with SmtpSinkServer(directory, smtp_port, http_port):
        pool = SmtpPool("127.0.0.1", smtp_port, 5, 1)
        for content in contents:
            await pool.send_raw("talent@orsted.example", RECIPIENT, content)
        await pool.close()

    received = read_messages(directory)
    assert [message.rcpt_tos for message in received] == [(RECIPIENT,), (RECIPIENT,)]
    for message in received:
        stored = Parser(policy=policy.SMTPUTF8).parsestr(message.raw().decode())
        assert stored["To"].addresses[0].addr_spec == RECIPIENT
        assert stored["From"].addresses[0].display_name == "Ørsted Talent"
        assert str(stored["Subject"]) == "Välkommen, José"


IDN_RECIPIENT = "Jose@Müller-Bau.de"
IDN_ON_WIRE = "Jose@xn--mller-bau-q9a.de"


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelining", "aiosmtplib"])
async def test_a_non_ascii_domain_goes_as_idna_a_labels_in_envelope_and_header(
    tmp_path: Path, pipelining: bool
) -> None:
    smtp_port, http_port = free_ports(2)
    directory = tmp_path / "messages"
    message = welcome().model_copy(update={"to_email": IDN_RECIPIENT})
    contents = [
        raw_email(message, SENDER, "orsted.example"),
        smtp_bytes(email_for(message, SENDER, "orsted.example")),
    ]
    with SmtpSinkServer(directory, smtp_port, http_port):
        pool = SmtpPool("127.0.0.1", smtp_port, 5, 1)
        pool.pipelining = pipelining or None  # False: through aiosmtplib
        for content in contents:
            await pool.send_raw("talent@örsted.example", IDN_RECIPIENT, content)
        await pool.close()

    received = read_messages(directory)
    # UTS 46 lowercases the domain; the local part is left as it is.
    assert [m.rcpt_tos for m in received] == [(IDN_ON_WIRE,)] * 2
    assert [m.mail_from for m in received] == ["talent@xn--rsted-iua.example"] * 2
    for stored in received:
        head = stored.raw().split(b"\r\n\r\n", 1)[0]
        assert head.isascii()
        assert stored.parsed()["To"].addresses[0].addr_spec == IDN_ON_WIRE


async def test_a_non_ascii_local_part_keeps_its_letters_and_its_domain_is_encoded(
    tmp_path: Path,
) -> None:
    smtp_port, http_port = free_ports(2)
    directory = tmp_path / "messages"
    message = welcome().model_copy(update={"to_email": "josé@müller-bau.de"})
    with SmtpSinkServer(directory, smtp_port, http_port):
        pool = SmtpPool("127.0.0.1", smtp_port, 5, 1)
        await pool.send_raw(
            "talent@orsted.example", "josé@müller-bau.de", raw_email(message, SENDER, "x")
        )
        await pool.close()

    [received] = read_messages(directory)
    assert received.rcpt_tos == ("josé@xn--mller-bau-q9a.de",)
    stored = Parser(policy=policy.SMTPUTF8).parsestr(received.raw().decode())
    assert stored["To"].addresses[0].addr_spec == "josé@xn--mller-bau-q9a.de"
