"""An SMTP server that keeps every message it receives as .eml files, with a read-only HTTP view."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import re
import signal
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser, HeaderParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

from aiosmtpd.controller import Controller

log = logging.getLogger("crm_devstack.smtp_sink")

_MESSAGE_ID = re.compile(r"^[0-9]+-[0-9a-f]{12}$")


@dataclass(frozen=True)
class ReceivedMessage:
    """One message the sink accepted, as stored on disk."""

    id: str
    mail_from: str
    rcpt_tos: tuple[str, ...]
    subject: str
    received_at: datetime
    eml_path: Path

    def raw(self) -> bytes:
        """The message exactly as received (RFC 5322 bytes)."""
        return self.eml_path.read_bytes()

    def parsed(self) -> EmailMessage:
        """The message parsed with the modern email policy, for reading headers and parts."""
        return BytesParser(policy=policy.default).parsebytes(self.raw())

    def summary(self) -> dict[str, Any]:
        """The JSON shape the HTTP listing returns."""
        return {
            "id": self.id,
            "from": self.mail_from,
            "to": list(self.rcpt_tos),
            "subject": self.subject,
            "received_at": self.received_at.isoformat(),
        }


def store_message(directory: Path, mail_from: str, rcpt_tos: list[str], content: bytes) -> str:
    """Writes one message as <id>.eml plus its <id>.json sidecar; returns the id."""
    # A nanosecond timestamp prefix makes ids sort by arrival.
    now_ns = time.time_ns()
    received_at = datetime.fromtimestamp(now_ns / 1e9, UTC)
    message_id = f"{now_ns}-{uuid.uuid4().hex[:12]}"
    # Headers in UTF-8 (RFC 6532, mail sent by SMTPUTF8) read as text; bytes parse as ASCII.
    headers = HeaderParser(policy=policy.default).parsestr(
        content.decode("utf-8", "surrogateescape")
    )
    sidecar = {
        "mail_from": mail_from,
        "rcpt_tos": rcpt_tos,
        "received_at": received_at.isoformat(),
        "subject": str(headers.get("subject", "")),
    }
    directory.mkdir(parents=True, exist_ok=True)
    # The sidecar is written last and both files appear by rename, so a reader that finds a
    # sidecar always finds the complete message next to it.
    _write_atomically(directory / f"{message_id}.eml", content)
    _write_atomically(directory / f"{message_id}.json", json.dumps(sidecar).encode())
    return message_id


def _write_atomically(path: Path, data: bytes) -> None:
    """Writes `data` to a temporary sibling and renames it into place."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


# Parsed sidecars by path: a stored message never changes (both files appear by rename), and
# tests poll the sink many times a second while it holds thousands of messages.
_parsed: dict[Path, ReceivedMessage] = {}


def read_messages(directory: Path) -> list[ReceivedMessage]:
    """Lists the messages stored in `directory`, oldest first."""
    if not directory.is_dir():
        return []
    messages = []
    for sidecar_path in sorted(directory.glob("*.json")):
        message = _parsed.get(sidecar_path)
        if message is None:
            sidecar = json.loads(sidecar_path.read_text())
            message = ReceivedMessage(
                id=sidecar_path.stem,
                mail_from=sidecar["mail_from"],
                rcpt_tos=tuple(sidecar["rcpt_tos"]),
                subject=sidecar["subject"],
                received_at=datetime.fromisoformat(sidecar["received_at"]),
                eml_path=sidecar_path.with_suffix(".eml"),
            )
            _parsed[sidecar_path] = message
        messages.append(message)
    return messages


class _StoringHandler:
    """aiosmtpd handler that stores each accepted message in a directory."""

    def __init__(self, directory: Path) -> None:
        """Remembers where messages go."""
        self.directory = directory

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        """Advertises PIPELINING, as production mail servers do: aiosmtpd reads pipelined
        commands in order, it only leaves the keyword out."""
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]]

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """Stores the message and acknowledges it."""
        content = envelope.original_content or envelope.content
        message_id = await asyncio.to_thread(
            store_message, self.directory, envelope.mail_from, list(envelope.rcpt_tos), content
        )
        log.info("stored %s from %s to %s", message_id, envelope.mail_from, envelope.rcpt_tos)
        return "250 Message accepted for delivery"


def _http_handler(directory: Path) -> type[BaseHTTPRequestHandler]:
    """Builds the request handler class serving the messages stored in `directory`."""

    class MessagesHandler(BaseHTTPRequestHandler):
        """Serves GET /messages and GET /messages/<id>."""

        def do_GET(self) -> None:
            """Answers the listing or one raw message."""
            path = self.path.split("?", 1)[0].rstrip("/")
            if path == "/messages":
                listing = [message.summary() for message in read_messages(directory)]
                self._send(200, "application/json", json.dumps(listing).encode())
                return
            prefix, _, message_id = path.rpartition("/")
            eml = directory / f"{message_id}.eml"
            if prefix == "/messages" and _MESSAGE_ID.match(message_id) and eml.is_file():
                self._send(200, "message/rfc822", eml.read_bytes())
                return
            self._send(404, "application/json", b'{"detail": "not found"}')

        def _send(self, status: int, content_type: str, body: bytes) -> None:
            """Writes a complete response."""
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Routes access logs through logging instead of raw stderr."""
            log.debug("http: " + format, *args)

    return MessagesHandler


class SmtpSinkServer:
    """The SMTP sink and its HTTP view, served from background threads of this process."""

    def __init__(
        self, directory: Path, smtp_port: int, http_port: int, host: str = "127.0.0.1"
    ) -> None:
        """Configures the sink without opening any port."""
        self.directory = directory
        self.host = host
        self.smtp_port = smtp_port
        self.http_port = http_port
        self._controller: Any = None
        self._http: ThreadingHTTPServer | None = None
        self._http_thread: threading.Thread | None = None

    @property
    def http_url(self) -> str:
        """Base URL of the HTTP view."""
        return f"http://{self.host}:{self.http_port}"

    def start(self) -> None:
        """Opens the SMTP and HTTP ports; returns once both accept connections."""
        self.directory.mkdir(parents=True, exist_ok=True)
        # SMTPUTF8 (RFC 6531), as Postfix, Exim and the large mailbox providers take it: mail to
        # `josé@example.es` is delivered, not refused for a limit of the sink.
        controller = Controller(
            _StoringHandler(self.directory),
            hostname=self.host,
            port=self.smtp_port,
            enable_SMTPUTF8=True,
        )
        controller.start()
        self._controller = controller
        self._http = ThreadingHTTPServer((self.host, self.http_port), _http_handler(self.directory))
        self._http_thread = threading.Thread(
            target=self._http.serve_forever, name="smtp-sink-http", daemon=True
        )
        self._http_thread.start()

    def stop(self) -> None:
        """Closes both ports."""
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        if self._http_thread is not None:
            self._http_thread.join(timeout=5)
            self._http_thread = None
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> SmtpSinkServer:
        """Starts the sink for a with-block."""
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stops the sink at the end of a with-block."""
        self.stop()


def main(argv: list[str] | None = None) -> None:
    """Runs the sink until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(prog="python -m crm_devstack.smtp_sink")
    parser.add_argument("--smtp-port", type=int, default=1025)
    parser.add_argument("--http-port", type=int, default=8025)
    parser.add_argument("--dir", type=Path, required=True, help="where messages are stored")
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # aiosmtpd logs every connection, including each readiness probe; stored messages suffice.
    logging.getLogger("mail.log").setLevel(logging.WARNING)

    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    sink = SmtpSinkServer(args.dir, args.smtp_port, args.http_port, args.host)
    sink.start()
    log.info(
        "smtp sink on %s:%d, messages at %s/messages, stored in %s",
        args.host,
        args.smtp_port,
        sink.http_url,
        args.dir,
    )
    try:
        stopping.wait()
    finally:
        sink.stop()


if __name__ == "__main__":
    main()
