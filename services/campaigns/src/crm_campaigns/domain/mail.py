"""The MIME message a `Message` goes out as: headers, parts and their transfer encoding."""

from __future__ import annotations

import base64
import copy
from email import policy
from email.header import Header
from email.message import EmailMessage
from email.utils import formataddr, formatdate, getaddresses, parseaddr

import idna

from crm_campaigns.domain.contact_links import LIST_UNSUBSCRIBE_POST
from crm_campaigns.domain.inbound_mail import METADATA_MESSAGE_ID, message_id_header
from crm_campaigns.domain.models import (
    Message,
)

# The longest line SMTP carries (RFC 5321: 998 octets before CRLF); a body with a longer one
# goes base64.
MAX_SMTP_LINE = 998

# The headers whose values are mailboxes: their addresses must stay readable as addresses.
ADDRESS_HEADERS = ("From", "To", "Cc", "Reply-To", "Sender")


def wire_address(address: str) -> str:
    """`address` as it goes into SMTP and headers: its domain as IDNA A-labels
    (`jose@müller-bau.de` -> `jose@xn--mller-bau-q9a.de`), which every mail server and the DNS
    take, and its local part unchanged (a non-ASCII one has no ASCII form: it needs SMTPUTF8).

    IDNA 2008 with the UTS 46 mapping (case folded, `ß` kept: `straße.de` and `strasse.de` are
    two domains at DENIC), as browsers and the large mailbox providers map. Raises ValueError
    for a domain that is no valid internationalized domain name.
    """
    local, at, domain = address.rpartition("@")
    if not at or domain.isascii():
        return address
    try:
        encoded = idna.encode(domain, uts46=True).decode("ascii")
    except idna.IDNAError as error:
        raise ValueError(f"{domain!r} is not a valid internationalized domain: {error}") from error
    return f"{local}@{encoded}"


def _wire_or_unchanged(address: str) -> str:
    """`wire_address`, or the address unchanged when its domain is invalid: the SMTP envelope
    refuses it then (`SmtpPool.send_raw`), with the reason recorded on the message."""
    try:
        return wire_address(address)
    except ValueError:
        return address


def _mailbox(display: str, address: str) -> str:
    """One mailbox as a header names it: the display name encoded alone, the domain as IDNA
    A-labels, a non-ASCII local part as UTF-8."""
    address = _wire_or_unchanged(address)
    if address.isascii():
        return formataddr((display, address), charset="utf-8")
    if not display:
        return address
    quoted = display.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{quoted}" <{address}>'


def header_value(name: str, value: str) -> str:
    """`value` as it may stand in header `name`.

    Non-ASCII text is encoded (RFC 2047), but never a mailbox's address: an encoded word there
    (`=?utf-8?q?jos=C3=A9?=@example.es`, or a whole `Name <address>` as one word) is no address
    to any mail program. A mailbox's display name is encoded alone; its domain goes as IDNA
    A-labels (`wire_address`); a non-ASCII local part goes as UTF-8 (RFC 6532), as its
    envelope must go by SMTPUTF8 anyway.
    """
    if value.isascii():
        return value
    if name in ADDRESS_HEADERS:
        display, address = parseaddr(value)
        if "@" in address:
            return _mailbox(display, address)
    # Header encodes the whole value as encoded words, its spaces inside them, and folds
    # between words; CRLF, as the header is written into SMTP data as it is.
    return Header(value, "utf-8", header_name=name).encode(linesep="\r\n")


def set_header(email: EmailMessage, name: str, value: str) -> None:
    """Sets header `name` of `email` to `value`, non-ASCII text encoded as `header_value` does.

    The standard library's own folding of an unstructured header (Python 3.11) may break the
    line between two encoded words with the space that separated them outside both
    ("...=?utf-8?b?...4oCT?=\r\n =?utf-8?q?=C3=89quipe...?="), and decoders drop such a
    space: a subject "Decouverte - Equipe" with accents and an en dash arrived as "... -Equipe".
    So a non-ASCII value other than a mailbox is stored encoded and folded already, which the
    SMTP policy writes unchanged (its lines are short)."""
    del email[name]
    if value.isascii() or name in ADDRESS_HEADERS or "\r" in value or "\n" in value:
        email[name] = value  # a line break in a value is refused here, as before
        return
    email.set_raw(name, header_value(name, value))


def smtp_bytes(email: EmailMessage) -> bytes:
    """`email` as SMTP carries it (CRLF). The standard library's SMTP policy writes a non-ASCII
    address as an encoded word, which is no address: a domain with non-ASCII letters is
    written as IDNA A-labels (`wire_address`; `email` itself is left as it is), and a message
    naming a non-ASCII local part is written in UTF-8 (RFC 6532), as it goes by SMTPUTF8
    anyway."""
    email = _with_wire_domains(email)
    utf8 = any(
        not parseaddr(str(value))[1].isascii()
        for name in ADDRESS_HEADERS
        for value in email.get_all(name, [])
    )
    return email.as_bytes(policy=policy.SMTPUTF8 if utf8 else policy.SMTP)


def _with_wire_domains(email: EmailMessage) -> EmailMessage:
    """`email`, or a copy of it whose mailboxes name their domains as IDNA A-labels."""
    changed: dict[str, list[str]] = {}
    for name in ADDRESS_HEADERS:
        parsed = [getaddresses([str(value)]) for value in email.get_all(name, [])]
        if any(not a.rpartition("@")[2].isascii() for value in parsed for _, a in value):
            changed[name] = [", ".join(_mailbox(d, a) for d, a in value) for value in parsed]
    if not changed:
        return email
    email = copy.deepcopy(email)
    for name, rewritten in changed.items():
        del email[name]
        for value in rewritten:
            email[name] = value
    return email


def message_headers(message: Message, sender: str, message_domain: str) -> list[tuple[str, str]]:
    """The headers of a message's mail (besides the MIME ones); the one place to add more."""
    headers = [
        ("From", sender),
        ("To", message.to_email or ""),
        ("Subject", message.subject),
        # Bounces and replies name this Message-ID, which is how they find the message again.
        ("Message-ID", message_id_header(message.id, message_domain)),
        ("X-CRM-Message-Id", message.id),
        # Providers such as Postmark return `X-PM-Metadata-*` in their bounce webhooks.
        (f"X-PM-Metadata-{METADATA_MESSAGE_ID}", message.id),
    ]
    if message.unsubscribe_url:
        headers.append(("List-Unsubscribe", f"<{message.unsubscribe_url}>"))
        headers.append(("List-Unsubscribe-Post", LIST_UNSUBSCRIBE_POST))
    return headers


def email_for(message: Message, sender: str, message_domain: str) -> EmailMessage:
    """The RFC 5322 message for a rendered message, built by the standard library."""
    email = EmailMessage()
    for name, value in message_headers(message, sender, message_domain):
        set_header(email, name, value)
    email["Date"] = formatdate(localtime=False)
    email.set_content(message.text)
    email.add_alternative(message.html, subtype="html")
    return email


def _body(content: str, subtype: str) -> bytes:
    if not content.endswith("\n"):
        content += "\n"  # as the standard library does
    if content.isascii():
        # Split once, not searched with a regex: a pattern for "999 characters without a line
        # break" restarts at every position and took a millisecond for 2 KB of HTML.
        lines = content.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        if max(map(len, lines)) <= MAX_SMTP_LINE:
            # Plain ASCII in lines SMTP can carry goes as it is: a quarter smaller than base64,
            # and no encoding work per message.
            return (
                f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
                "Content-Transfer-Encoding: 7bit\r\n\r\n"
            ).encode() + "\r\n".join(lines).encode()
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\n"
    ).encode() + base64.encodebytes(content.encode()).replace(b"\n", b"\r\n")


def raw_email(message: Message, sender: str, message_domain: str) -> bytes:
    """The same message as `email_for`, serialised directly: the standard library's policy
    machinery costs several milliseconds a message, which bounds a broadcast's throughput.

    Header values with non-ASCII text are written as `header_value` says; anything that could
    break a header line falls back to `email_for`.
    """
    headers = message_headers(message, sender, message_domain)
    if any("\r" in value or "\n" in value for _, value in headers):
        return smtp_bytes(email_for(message, sender, message_domain))
    lines = [f"{name}: {header_value(name, value)}" for name, value in headers]
    boundary = f"=_{message.id}"
    head = "\r\n".join(
        [
            *lines,
            f"Date: {formatdate(localtime=False)}",
            "MIME-Version: 1.0",
            f'Content-Type: multipart/alternative; boundary="{boundary}"',
        ]
    )
    separator = f"\r\n--{boundary}\r\n".encode()
    return b"".join(
        [
            head.encode(),
            b"\r\n",
            separator,
            _body(message.text, "plain"),
            separator,
            _body(message.html, "html"),
            f"\r\n--{boundary}--\r\n".encode(),
        ]
    )
