"""The SMTP pool against a real server (aiosmtpd) with a self-signed certificate: STARTTLS and
implicit TLS with the certificate verified, AUTH PLAIN and LOGIN, on both the pipelined client
and aiosmtplib; wrong credentials and failed handshakes are clear errors, never a hang."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from crm_campaigns.adapters.smtp import SmtpPool, SmtpSecurity, SmtpTls
from crm_campaigns.domain.models import MessageStatus
from crm_campaigns.domain.sending import Outcome, classify_error
from crm_campaigns.repositories.collections import MESSAGES
from crm_devstack.infra import free_ports
from integration.campaigns.application.test_delivery import Setup, dispatcher, drain, queue

pytestmark = [
    pytest.mark.integration,
    # The implicit-TLS server requires AUTH on a connection aiosmtpd does not count as TLS.
    pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS"),
]

USER, PASSWORD = "crm-relay", "correct horse battery staple"
MESSAGE = b"From: talent@example.org\r\nTo: ada@example.org\r\nSubject: hi\r\n\r\nhello\r\n"


@dataclass
class RecordingSmtp:
    """Accepts every message, noting whether its session was encrypted and who logged in; it
    advertises PIPELINING when `pipelining` is set."""

    pipelining: bool
    accepted: list[tuple[str, bool, str | None]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    senders: list[str] = field(default_factory=list)

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        if self.pipelining:
            return [*responses[:-1], "250-PIPELINING", responses[-1]]
        return responses

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        encrypted = server.transport.get_extra_info("ssl_object") is not None
        user = session.auth_data.login.decode() if session.authenticated else None
        self.accepted.extend((rcpt, encrypted, user) for rcpt in envelope.rcpt_tos)
        self.senders.append(envelope.mail_from)
        return "250 OK"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        self.logins.append(mechanism)
        valid = (auth_data.login, auth_data.password) == (USER.encode(), PASSWORD.encode())
        if not valid:
            return AuthResult(success=False, handled=False)  # aiosmtpd then answers 535
        return AuthResult(success=True, auth_data=auth_data)


@dataclass
class Server:
    handler: RecordingSmtp
    tls: SmtpTls
    port: int
    ca_file: str


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def server_context(ca: trustme.CA, *hosts: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*hosts).configure_cert(context)
    return context


@contextmanager
def running(
    handler: RecordingSmtp,
    tls: SmtpTls,
    context: ssl.SSLContext | None,
    *,
    exclude: tuple[str, ...] = (),
) -> Iterator[int]:
    """Runs an aiosmtpd server with `handler` that requires AUTH; yields its port."""
    [port] = free_ports(1)
    options: dict[str, Any] = {
        "authenticator": handler.authenticate,
        "auth_required": True,
        "auth_exclude_mechanism": list(exclude),
    }
    if tls is SmtpTls.STARTTLS:
        options |= {"tls_context": context, "require_starttls": True}
    elif tls is SmtpTls.IMPLICIT:
        # aiosmtpd counts only STARTTLS as TLS for `auth_require_tls`; this is TLS throughout.
        options |= {"ssl_context": context, "auth_require_tls": False}
    controller = Controller(handler, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


MODES = [
    (SmtpTls.STARTTLS, True),
    (SmtpTls.STARTTLS, False),
    (SmtpTls.IMPLICIT, True),
    (SmtpTls.IMPLICIT, False),
]
MODE_IDS = ["starttls-pipelining", "starttls-aiosmtplib", "tls-pipelining", "tls-aiosmtplib"]


@pytest.fixture(params=MODES, ids=MODE_IDS)
def server(request: pytest.FixtureRequest, ca: trustme.CA, ca_file: str) -> Iterator[Server]:
    """A server with a certificate for 127.0.0.1 from the test CA, once per TLS mode, advertising
    PIPELINING (the pool pipelines) or not (the pool speaks through aiosmtplib)."""
    tls, pipelining = request.param
    handler = RecordingSmtp(pipelining=pipelining)
    with running(handler, tls, server_context(ca, "127.0.0.1", "localhost")) as port:
        yield Server(handler, tls, port, ca_file)


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
@pytest.mark.parametrize(("tls", "pipelining"), MODES, ids=MODE_IDS)
async def test_mail_goes_encrypted_and_authenticated(
    tls: SmtpTls, pipelining: bool, mechanism: str, ca: trustme.CA, ca_file: str
) -> None:
    handler = RecordingSmtp(pipelining=pipelining)
    only = tuple(other for other in ("PLAIN", "LOGIN") if other != mechanism)
    security = SmtpSecurity(tls=tls, username=USER, password=PASSWORD, ca_file=ca_file)
    with running(handler, tls, server_context(ca, "127.0.0.1"), exclude=only) as port:
        pool = SmtpPool("127.0.0.1", port, 5, 2, security)
        try:
            for recipient in ("ada@example.org", "grace@example.org"):
                await pool.send_raw("talent@example.org", recipient, MESSAGE)
        finally:
            await pool.close()
    assert handler.accepted == [
        ("ada@example.org", True, USER),
        ("grace@example.org", True, USER),
    ]
    assert handler.logins == [mechanism]  # one connection, reused
    assert pool.pipelining is pipelining
    assert pool.connections_opened == 1


async def test_wrong_credentials_are_the_servers_refusal_at_once(server: Server) -> None:
    security = SmtpSecurity(tls=server.tls, username=USER, password="wrong", ca_file=server.ca_file)
    pool = SmtpPool("127.0.0.1", server.port, 5, 1, security)
    started = asyncio.get_running_loop().time()
    with pytest.raises(aiosmtplib.SMTPAuthenticationError) as refused:
        await asyncio.wait_for(pool.send_raw("talent@example.org", "ada@example.org", MESSAGE), 10)
    assert asyncio.get_running_loop().time() - started < 4
    assert refused.value.code == 535
    # Our configuration, not the recipient: worth retrying once the credentials are fixed.
    assert classify_error(refused.value) is Outcome.TRANSIENT
    assert server.handler.accepted == []
    await pool.close()


async def test_a_certificate_not_signed_by_a_trusted_ca_fails_the_handshake(
    server: Server,
) -> None:
    # The system's CAs only: the test CA is unknown to them.
    security = SmtpSecurity(tls=server.tls, username=USER, password=PASSWORD)
    pool = SmtpPool("127.0.0.1", server.port, 5, 1, security)
    with pytest.raises(aiosmtplib.SMTPConnectError, match="certificate verify failed"):
        await asyncio.wait_for(pool.send_raw("talent@example.org", "ada@example.org", MESSAGE), 10)
    assert server.handler.accepted == []
    await pool.close()


@pytest.mark.parametrize("tls", [SmtpTls.STARTTLS, SmtpTls.IMPLICIT])
async def test_a_certificate_for_another_host_fails_the_handshake(
    tls: SmtpTls, ca: trustme.CA, ca_file: str
) -> None:
    handler = RecordingSmtp(pipelining=True)
    with running(handler, tls, server_context(ca, "mail.example.org")) as port:
        pool = SmtpPool("127.0.0.1", port, 5, 1, SmtpSecurity(tls=tls, ca_file=ca_file))
        try:
            with pytest.raises(aiosmtplib.SMTPConnectError, match="match"):
                await asyncio.wait_for(
                    pool.send_raw("talent@example.org", "ada@example.org", MESSAGE), 10
                )
        finally:
            await pool.close()
    assert handler.accepted == []


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelining", "aiosmtplib"])
async def test_starttls_not_offered_is_an_error_not_plain_text(pipelining: bool) -> None:
    handler = RecordingSmtp(pipelining=pipelining)
    [port] = free_ports(1)
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    pool = SmtpPool("127.0.0.1", port, 5, 1, SmtpSecurity(tls=SmtpTls.STARTTLS))
    if not pipelining:
        pool.pipelining = False  # as learnt from an earlier connection
    try:
        with pytest.raises(aiosmtplib.SMTPException, match="STARTTLS"):
            await asyncio.wait_for(
                pool.send_raw("talent@example.org", "ada@example.org", MESSAGE), 10
            )
    finally:
        await pool.close()
        controller.stop()
    assert handler.accepted == []


async def test_tls_against_a_plain_server_fails_fast(ca_file: str) -> None:
    handler = RecordingSmtp(pipelining=True)
    [port] = free_ports(1)
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    pool = SmtpPool("127.0.0.1", port, 5, 1, SmtpSecurity(tls=SmtpTls.IMPLICIT, ca_file=ca_file))
    try:
        with pytest.raises(aiosmtplib.SMTPConnectError, match=r"TLS with 127\.0\.0\.1"):
            await asyncio.wait_for(
                pool.send_raw("talent@example.org", "ada@example.org", MESSAGE), 10
            )
    finally:
        await pool.close()
        controller.stop()


async def test_plain_text_against_a_tls_port_times_out_with_a_clear_reason(
    ca: trustme.CA,
) -> None:
    handler = RecordingSmtp(pipelining=True)
    with running(handler, SmtpTls.IMPLICIT, server_context(ca, "127.0.0.1")) as port:
        # The server waits for a TLS hello, the client for a greeting: the deadline ends it.
        pool = SmtpPool("127.0.0.1", port, 0.5, 1)
        try:
            with pytest.raises(aiosmtplib.SMTPConnectTimeoutError, match="did not complete"):
                await asyncio.wait_for(
                    pool.send_raw("talent@example.org", "ada@example.org", MESSAGE), 10
                )
        finally:
            await pool.close()


def test_credentials_are_refused_without_tls_and_the_password_is_never_shown() -> None:
    with pytest.raises(ValueError, match="STARTTLS or implicit TLS"):
        SmtpSecurity(username=USER, password=PASSWORD)
    security = SmtpSecurity(tls=SmtpTls.STARTTLS, username=USER, password=PASSWORD)
    assert PASSWORD not in repr(security)
    context = security.tls_context()
    assert context is not None
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname


@pytest.mark.parametrize(
    ("password", "trusted", "reason"),
    [
        ("wrong", True, "SMTPAuthenticationError(535"),
        (PASSWORD, False, "certificate verify failed"),
    ],
    ids=["wrong-password", "untrusted-certificate"],
)
async def test_a_refused_login_or_handshake_is_the_messages_failure_reason(
    delivery: Setup, ca: trustme.CA, ca_file: str, password: str, trusted: bool, reason: str
) -> None:
    handler = RecordingSmtp(pipelining=True)
    security = SmtpSecurity(
        tls=SmtpTls.STARTTLS,
        username=USER,
        password=password,
        ca_file=ca_file if trusted else None,
    )
    with running(handler, SmtpTls.STARTTLS, server_context(ca, "127.0.0.1")) as port:
        pool = SmtpPool("127.0.0.1", port, 5, 1, security)
        worker = dispatcher(delivery, pool)
        await queue(delivery, 1)
        assert await worker.deliver_batch() == 1
        [retrying] = (
            await delivery.database[MESSAGES].find({"tenant_id": delivery.tenant}).to_list()
        )
        # Retried (the configuration may be fixed meanwhile), with the reason on the message.
        assert (retrying["status"], retrying["attempts"]) == (MessageStatus.QUEUED.value, 1)
        assert reason in retrying["last_error"]
        await drain(worker, rounds=6)
        await pool.close()
    [failed] = await delivery.database[MESSAGES].find({"tenant_id": delivery.tenant}).to_list()
    assert (failed["status"], failed["attempts"]) == (MessageStatus.FAILED.value, 3)
    assert reason in failed["last_error"]
    assert handler.accepted == []
