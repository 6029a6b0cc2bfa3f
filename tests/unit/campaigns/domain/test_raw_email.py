"""The directly serialised mail reads the same as the standard library's."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.parser import BytesParser, Parser

import pytest

from crm_campaigns.domain.mail import email_for, raw_email, smtp_bytes, wire_address
from crm_campaigns.domain.models import Message

pytestmark = pytest.mark.unit


def message(subject: str, to_email: str = "ada@example.org") -> Message:
    return Message(
        id="b1-c1",
        tenant_id="acme",
        candidate_id="c1",
        template_id="t",
        to_email=to_email,
        subject=subject,
        html="<p>Grüße, Ada</p>" + "<p>long line</p>" * 200,
        text="Grüße, Ada\nsecond line",
    )


@pytest.mark.parametrize("subject", ["Hello Ada", "Grüße aus Köln, José 👋"])
def test_raw_mail_parses_to_the_same_headers_and_parts(subject: str) -> None:
    sender = "Talent Team <talent@example.org>"
    raw = BytesParser(policy=policy.default).parsebytes(
        raw_email(message(subject), sender, "example.org")
    )
    reference = email_for(message(subject), sender, "example.org")
    for header in ("From", "To", "Subject", "Message-ID", "X-CRM-Message-Id"):
        assert str(raw[header]) == str(reference[header])
    assert raw["Message-ID"] == "<b1-c1@example.org>"
    assert raw["Date"] is not None
    assert reference["Date"] is not None
    for subtype in ("plain", "html"):
        ours, theirs = raw.get_body((subtype,)), reference.get_body((subtype,))
        assert ours is not None
        assert theirs is not None
        assert ours.get_content() == theirs.get_content()
    assert all(len(line) <= 998 for line in raw_email(message(subject), sender, "x").split(b"\r\n"))


# Accents, an en dash with a space either side, long enough to fold: the standard library's
# folding put the space after the dash between two encoded words, where decoders drop it.
LONG_SUBJECT = "You are on the waitlist: Soirée Découverte \u2013 Équipe Données"


def _bare_line_feeds(raw: bytes) -> int:
    return raw.count(b"\n") - raw.count(b"\r\n")


@pytest.mark.parametrize(
    "subject",
    [LONG_SUBJECT, "Grüße aus Köln \u2013 " + "und noch etwas mehr Text, " * 4 + "José 👋"],
    ids=["waitlist", "longer"],
)
def test_a_long_subject_with_accents_and_a_dash_decodes_to_itself(subject: str) -> None:
    sender = "Talent Team <talent@example.org>"
    for raw in (
        raw_email(message(subject), sender, "example.org"),
        smtp_bytes(email_for(message(subject), sender, "example.org")),
    ):
        head = raw.split(b"\r\n\r\n", 1)[0]
        assert b"\r\n =?utf-8?" in head  # folded between encoded words
        assert _bare_line_feeds(head) == 0
        assert all(len(line) <= 78 for line in head.split(b"\r\n"))
        parsed = message_from_bytes(raw, policy=policy.default)
        assert parsed["Subject"] == subject


def test_a_header_that_could_inject_lines_falls_back_to_the_standard_library() -> None:
    with pytest.raises(ValueError, match="linefeed"):
        raw_email(message("Hi\r\nBcc: everyone@example.org"), "t@example.org", "example.org")


@pytest.mark.parametrize(
    ("html", "encoding"),
    [
        ("<p>Hi Ada</p>\n<p>We are hiring.</p>", "7bit"),
        ("<p>Hi Ada</p>\r\n<p>bare CR\rbare LF\n</p>", "7bit"),
        ("<p>" + "x" * 1200 + "</p>", "base64"),  # one line longer than SMTP carries
        ("a" * 998 + "\n" + "b" * 998, "7bit"),  # the longest lines SMTP carries
        ("a" * 998 + "\r\n" + "b" * 999, "base64"),
        ("a" * 500 + "\r" + "b" * 500 + "\r" + "c" * 999, "base64"),
        ("<p>short</p>\n" * 200, "7bit"),  # long, in short lines
        ("<p>Grüße</p>", "base64"),
    ],
)
def test_ascii_bodies_in_short_lines_go_as_they_are(html: str, encoding: str) -> None:
    plain = Message(
        id="b1-c1",
        tenant_id="acme",
        candidate_id="c1",
        template_id="t",
        to_email="ada@example.org",
        subject="Hello",
        html=html,
        text="Hi Ada",
    )
    raw = raw_email(plain, "talent@example.org", "example.org")
    parsed = BytesParser(policy=policy.default).parsebytes(raw)
    body = parsed.get_body(("html",))
    assert body is not None
    assert body["Content-Transfer-Encoding"] == encoding
    reference = email_for(plain, "t@example.org", "x").get_body(("html",))
    assert reference is not None

    def lines(text: str) -> list[str]:
        return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")

    assert lines(body.get_content()) == lines(reference.get_content())
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    assert b"\r" not in raw.replace(b"\r\n", b"")


@pytest.mark.parametrize(
    ("sender", "display_name", "sender_address"),
    [
        ("Ørsted Talent <talent@orsted.example>", "Ørsted Talent", "talent@orsted.example"),
        ('"Åberg, Talent" <talent@aberg.example>', "Åberg, Talent", "talent@aberg.example"),
        ("Talent Team <talent@example.org>", "Talent Team", "talent@example.org"),
    ],
)
@pytest.mark.parametrize(
    "recipient", ["ada@example.org", "josé@example.es", "jose@xn--mller-bau-q9a.de"]
)
def test_mailboxes_stay_addresses_whatever_their_letters(
    sender: str, display_name: str, sender_address: str, recipient: str
) -> None:
    for content in (
        raw_email(message("Hej", to_email=recipient), sender, "example.org"),
        smtp_bytes(email_for(message("Hej", to_email=recipient), sender, "example.org")),
    ):
        # The standard library reads bytes as ASCII: UTF-8 headers are read from text.
        parsed = Parser(policy=policy.SMTPUTF8).parsestr(content.decode())
        [mailbox] = parsed["From"].addresses
        assert (mailbox.display_name, mailbox.addr_spec) == (display_name, sender_address)
        assert parsed["To"].addresses[0].addr_spec == recipient
        assert not parsed["From"].defects
        head = content.split(b"\r\n\r\n", 1)[0]
        # 8-bit headers only where the envelope goes by SMTPUTF8 anyway.
        assert head.isascii() == recipient.isascii()


@pytest.mark.parametrize(
    ("address", "on_wire"),
    [
        ("jose@müller-bau.de", "jose@xn--mller-bau-q9a.de"),
        ("Jose@Müller-Bau.DE", "Jose@xn--mller-bau-q9a.de"),  # the domain's case folded
        ("info@straße.de", "info@xn--strae-oqa.de"),  # IDNA 2008: ß is not ss
        ("josé@müller-bau.de", "josé@xn--mller-bau-q9a.de"),  # the local part as it is
        ("ada@example.org", "ada@example.org"),
        ("josé@example.es", "josé@example.es"),
    ],
)
def test_a_domain_goes_as_idna_a_labels(address: str, on_wire: str) -> None:
    assert wire_address(address) == on_wire


def test_a_domain_that_is_no_valid_idn_is_refused() -> None:
    with pytest.raises(ValueError, match="not a valid internationalized domain"):
        wire_address("ada@exa mple☃.-de")


@pytest.mark.parametrize(
    "sender", ["Talent <talent@example.org>", "Ørsted Talent <talent@örsted.example>"]
)
def test_headers_name_a_non_ascii_domain_by_its_a_labels(sender: str) -> None:
    to = message("Hej", to_email="jose@müller-bau.de")
    for content in (raw_email(to, sender, "x"), smtp_bytes(email_for(to, sender, "x"))):
        head = content.split(b"\r\n\r\n", 1)[0]
        assert head.isascii()  # no SMTPUTF8 needed
        parsed = BytesParser(policy=policy.SMTP).parsebytes(content)
        assert parsed["To"].addresses[0].addr_spec == "jose@xn--mller-bau-q9a.de"
        assert parsed["From"].addresses[0].domain.isascii()
        assert not parsed["To"].defects


def test_smtp_bytes_leaves_the_message_it_writes_as_it_was() -> None:
    email = email_for(message("Hej", to_email="jose@müller-bau.de"), "t@example.org", "x")
    smtp_bytes(email)
    assert str(email["To"]) == "jose@müller-bau.de"
