"""The SMTP sink keeps every message as .eml plus a sidecar and lists it over HTTP."""

from __future__ import annotations

import http.client
import json
import smtplib
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from crm_devstack.infra import free_ports
from crm_devstack.smtp_sink import SmtpSinkServer, read_messages

pytestmark = pytest.mark.unit


def http_get(port: int, path: str) -> tuple[int, str, bytes]:
    """GETs a path from the sink's HTTP view; returns status, content type and body."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    finally:
        connection.close()


def invitation() -> EmailMessage:
    """A message with a non-ASCII subject, so header decoding is exercised."""
    message = EmailMessage()
    message["From"] = "Recruiting <jobs@acme.test>"
    message["To"] = "ada@example.test"
    message["Subject"] = "Einladung zum Gespräch"
    message.set_content("Hello Ada,\nplease pick a slot.\n")
    return message


def test_received_message_is_stored_and_listed(tmp_path: Path) -> None:
    """A mail sent over SMTP shows up in read_messages, the JSON listing and as raw .eml."""
    smtp_port, http_port = free_ports(2)
    directory = tmp_path / "messages"
    with SmtpSinkServer(directory, smtp_port, http_port):
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as client:
            client.send_message(invitation(), to_addrs=["ada@example.test", "bcc@acme.test"])

        [received] = read_messages(directory)
        assert received.mail_from == "jobs@acme.test"
        assert received.rcpt_tos == ("ada@example.test", "bcc@acme.test")
        assert received.subject == "Einladung zum Gespräch"
        parsed = received.parsed()
        assert parsed["To"] == "ada@example.test"
        body = parsed.get_body(("plain",))
        assert body is not None
        assert "please pick a slot" in body.get_content()

        status, content_type, listing_body = http_get(http_port, "/messages")
        assert (status, content_type) == (200, "application/json")
        assert json.loads(listing_body) == [
            {
                "id": received.id,
                "from": "jobs@acme.test",
                "to": ["ada@example.test", "bcc@acme.test"],
                "subject": "Einladung zum Gespräch",
                "received_at": received.received_at.isoformat(),
            }
        ]

        status, content_type, raw = http_get(http_port, f"/messages/{received.id}")
        assert (status, content_type) == (200, "message/rfc822")
        assert raw == received.raw()


def test_messages_are_listed_in_arrival_order(tmp_path: Path) -> None:
    """Several messages come back oldest first."""
    smtp_port, http_port = free_ports(2)
    directory = tmp_path / "messages"
    with SmtpSinkServer(directory, smtp_port, http_port):
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as client:
            for number in range(3):
                client.sendmail("a@acme.test", ["b@acme.test"], f"Subject: n{number}\r\n\r\nx\r\n")
        _, _, listing_body = http_get(http_port, "/messages")

    assert [message.subject for message in read_messages(directory)] == ["n0", "n1", "n2"]
    assert [item["subject"] for item in json.loads(listing_body)] == ["n0", "n1", "n2"]


@pytest.mark.parametrize("path", ["/messages/unknown", "/messages/..%2F..%2Fetc%2Fpasswd", "/"])
def test_unknown_paths_are_not_found(tmp_path: Path, path: str) -> None:
    """Only listed message ids are served; anything else is a 404."""
    smtp_port, http_port = free_ports(2)
    with SmtpSinkServer(tmp_path, smtp_port, http_port):
        status, _, _ = http_get(http_port, path)
    assert status == 404


def test_read_messages_of_missing_directory_is_empty(tmp_path: Path) -> None:
    """A sink that has received nothing yet has no directory; that reads as no messages."""
    assert read_messages(tmp_path / "absent") == []


def test_mail_to_a_non_ascii_address_is_taken_by_smtputf8(tmp_path: Path) -> None:
    smtp_port, http_port = free_ports(2)
    directory = tmp_path / "messages"
    message = invitation()
    message.replace_header("To", "josé@example.es")
    with SmtpSinkServer(directory, smtp_port, http_port):
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as client:
            client.ehlo()
            assert client.has_extn("smtputf8")
            content = message.as_bytes(policy=policy.SMTPUTF8)
            client.sendmail(message["From"], ["josé@example.es"], content, ["SMTPUTF8"])

        [received] = read_messages(directory)
        assert received.rcpt_tos == ("josé@example.es",)
        assert received.subject == "Einladung zum Gespräch"  # raw UTF-8 now, read as such
