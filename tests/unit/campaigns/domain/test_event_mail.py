"""The mails to event registrants as written: what each says and the invitation it carries."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest

from crm_campaigns.adapters.qr import qr_png
from crm_campaigns.domain.event_mail import (
    EventMailKind,
    RegistrantMail,
    lead_time,
    local_time,
    registrant_email,
)
from crm_campaigns.domain.mail import smtp_bytes
from crm_shared import (
    EventInvitationChanged,
    EventRegistered,
    EventTimeAndPlace,
    EventWaitlisted,
)

pytestmark = pytest.mark.unit

STARTS = datetime(2027, 3, 28, 16, tzinfo=UTC)  # 18:00 in Berlin, the day clocks go forward
ICS = "BEGIN:VCALENDAR\r\nMETHOD:CANCEL\r\nEND:VCALENDAR\r\n"


PERSON = {
    "event_id": "e1",
    "event_name": "Campus day",
    "registration_id": "r1",
    "email": "zoe@example.org",
    "first_name": "Zoë",
    "last_name": "Doe",
}


def _registered() -> EventRegistered:
    return EventRegistered(**PERSON, registered_at=STARTS, invitation_ics=ICS)


def _changed(change: str) -> EventInvitationChanged:
    return EventInvitationChanged(
        **PERSON,
        change=change,
        starts_at=STARTS,
        time_zone="Europe/Berlin",
        location="Hall B",
        cancellation_reason="Venue flooded" if change == "cancelled" else None,
        sequence=4,
        invitation_ics=ICS,
        manage_url="https://crm.example/manage",
        occurred_at=STARTS,
    )


def test_a_cancellation_carries_the_cancelling_invitation_and_no_manage_link() -> None:
    mail = RegistrantMail.telling(_changed("cancelled"))
    assert mail is not None
    assert (mail.kind, mail.sequence) == (EventMailKind.CANCELLATION, 4)
    email = registrant_email(mail, sender="a@b.example", message_id="m1", domain="b.example")
    assert email["Subject"] == "Cancelled: Campus day"
    [calendar] = [p for p in email.iter_attachments() if p.get_content_type() == "text/calendar"]
    assert calendar.get_param("method") == "CANCEL"
    text = email.get_body(("plain",))
    assert text is not None
    assert "Campus day has been cancelled: Venue flooded" in text.get_content()
    assert "https://crm.example/manage" not in text.get_content()


def test_an_update_says_the_new_time_in_the_events_zone() -> None:
    mail = RegistrantMail.telling(_changed("updated"))
    assert mail is not None
    email = registrant_email(mail, sender="a@b.example", message_id="m2", domain="b.example")
    [calendar] = [p for p in email.iter_attachments() if p.get_content_type() == "text/calendar"]
    assert calendar.get_param("method") == "REQUEST"
    text = email.get_body(("plain",))
    assert text is not None
    assert "When: Sunday 28 March 2027, 18:00 CEST" in text.get_content()
    assert local_time(STARTS, "No/Such_Zone") == "Sunday 28 March 2027, 16:00 UTC"


def test_an_edit_the_organiser_kept_quiet_is_not_mailed() -> None:
    quiet = _changed("updated").model_copy(update={"notify_registrant": False})
    assert RegistrantMail.telling(quiet) is None
    assert RegistrantMail.telling(_changed("updated")) is not None


def test_walk_ins_and_old_registrations_get_no_confirmation() -> None:
    registered = _registered()
    assert RegistrantMail.confirming(registered) is not None
    assert RegistrantMail.confirming(registered.model_copy(update={"walk_in": True})) is None
    assert RegistrantMail.confirming(registered.model_copy(update={"invitation_ics": None})) is None


def test_the_waitlisted_are_told_their_place_is_not_confirmed_and_get_no_invitation() -> None:
    waitlisted = EventWaitlisted(
        **PERSON,
        registered_at=STARTS,
        manage_url="https://crm.example/manage",
        starts_at=STARTS,
        time_zone="Europe/Berlin",
        location="Hall B",
    )
    mail = RegistrantMail.waitlisting(waitlisted)
    email = registrant_email(mail, sender="a@b.example", message_id="m3", domain="b.example")
    assert email["Subject"] == "You are on the waitlist: Campus day"
    assert [p.get_content_type() for p in email.walk()] == [
        "multipart/alternative",
        "text/plain",
        "text/html",
    ]
    text = email.get_body(("plain",))
    assert text is not None
    body = text.get_content()
    assert "your place is not confirmed" in body
    assert "If a seat frees up" in body
    assert "we will mail you" in body
    assert "When: Sunday 28 March 2027, 18:00 CEST" in body
    assert "https://crm.example/manage" in body


def test_a_waitlist_subject_keeps_every_space_through_smtp() -> None:
    # Sent as "...Découverte \u2013Équipe Données": folded between two encoded words, the
    # space after the dash fell outside both and decoders dropped it.
    name = "Soirée Découverte \u2013 Équipe Données"
    waitlisted = EventWaitlisted(
        **(PERSON | {"event_name": name}),
        registered_at=STARTS,
        manage_url="https://crm.example/manage",
        starts_at=STARTS,
        time_zone="Europe/Berlin",
        location="Hall B",
    )
    email = registrant_email(
        RegistrantMail.waitlisting(waitlisted), sender="a@b.example", message_id="m", domain="b"
    )
    raw = smtp_bytes(email)
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert b"\r\n =?utf-8?" in head  # long enough to fold
    parsed = message_from_bytes(raw, policy=policy.default)
    assert parsed["Subject"] == f"You are on the waitlist: {name}"


def test_a_confirmation_shows_the_door_code_and_its_qr_code_inline() -> None:
    url = "https://crm.example/console/events/e1/check-in?code=ABCD2345"
    registered = _registered().model_copy(update={"code": "ABCD2345", "check_in_url": url})
    mail = RegistrantMail.confirming(registered)
    assert mail is not None
    png = qr_png(url)
    email = registrant_email(
        mail, sender="a@b.example", message_id="m4", domain="b.example", qr_png=png
    )
    assert [p.get_content_type() for p in email.walk()] == [
        "multipart/mixed",
        "multipart/alternative",
        "text/plain",
        "multipart/related",
        "text/html",
        "image/png",
        "text/calendar",
    ]
    [image] = [p for p in email.walk() if p.get_content_type() == "image/png"]
    assert image.get_content() == png
    html = email.get_body(("html",))
    assert html is not None
    assert f'src="cid:{str(image["Content-ID"]).strip("<>")}"' in html.get_content()
    text = email.get_body(("plain",))
    assert text is not None
    assert "Your code for the door: ABCD2345" in text.get_content()


@pytest.mark.parametrize(
    ("minutes", "words"),
    [(1440, "24 hours"), (60, "1 hour"), (120, "2 hours"), (2880, "2 days"), (90, "90 minutes")],
)
def test_reminder_lead_times_read_naturally(minutes: int, words: str) -> None:
    assert lead_time(minutes) == words


def test_every_mail_links_the_registrants_page_not_the_json_api() -> None:
    page = "https://crm.example/console/public/registrations/tok"
    api = "https://crm.example/public/v1/event-registrations/tok"
    links = {"manage_url": api, "manage_page_url": page}
    mails = [
        RegistrantMail.confirming(_registered().model_copy(update=links)),
        RegistrantMail.telling(_changed("updated").model_copy(update=links)),
        RegistrantMail.waitlisting(
            EventWaitlisted(**PERSON, registered_at=STARTS, time_zone="Europe/Berlin", **links)
        ),
    ]
    for mail in mails:
        assert mail is not None
        email = registrant_email(mail, sender="a@b.example", message_id="m9", domain="b.example")
        text = email.get_body(("plain",))
        assert text is not None
        assert page in text.get_content(), mail.kind
        assert api not in text.get_content(), mail.kind
    # Announced before pages existed: the link it has.
    old = RegistrantMail.telling(_changed("updated"))
    assert old is not None
    assert old.manage_url == "https://crm.example/manage"


def test_a_seat_that_came_free_is_confirmed_as_such() -> None:
    promoted = RegistrantMail.confirming(_registered().model_copy(update={"promoted": True}))
    plain = RegistrantMail.confirming(_registered())
    assert promoted is not None
    assert plain is not None
    email = registrant_email(promoted, sender="a@b.example", message_id="m", domain="b")
    assert email["Subject"] == "A seat came free, you are registered: Campus day"
    text = email.get_body(("plain",))
    assert text is not None
    assert "A seat came free at Campus day and it is yours" in text.get_content()
    usual = registrant_email(plain, sender="a@b.example", message_id="m", domain="b")
    assert usual["Subject"] == "You are registered: Campus day"
    usual_text = usual.get_body(("plain",))
    assert usual_text is not None
    assert "Thank you for registering" in usual_text.get_content()


def _moved(*, waitlisted: bool = False) -> EventInvitationChanged:
    """Event moved a day later (a clock change in between), to another hall, with a new link."""
    return _changed("updated").model_copy(
        update={
            "changed_fields": ["starts_at", "location", "join_url"],
            "starts_at": datetime(2027, 3, 29, 16, tzinfo=UTC),
            "location": "Hall C",
            "join_url": "https://meet.example/new",
            "previous": EventTimeAndPlace(
                starts_at=datetime(2027, 3, 27, 17, tzinfo=UTC),
                location="Hall B",
                join_url="https://meet.example/old",
            ),
            "waitlisted": waitlisted,
        }
    )


def _plain(email: EmailMessage) -> str:
    text = email.get_body(("plain",))
    assert text is not None
    return str(text.get_content())


def test_an_update_says_what_changed_old_against_new_in_the_events_zone() -> None:
    mail = RegistrantMail.telling(_moved())
    assert mail is not None
    email = registrant_email(mail, sender="a@b.example", message_id="m", domain="b.example")
    body = _plain(email)
    assert "What changed:" in body
    assert (
        "Starts: now Monday 29 March 2027, 18:00 CEST (was Saturday 27 March 2027, 18:00 CET)"
    ) in body
    assert "Where: now Hall C (was Hall B)" in body
    assert "Online link: now https://meet.example/new (was https://meet.example/old)" in body
    assert "Join online: https://meet.example/new" in body
    assert "The updated calendar invitation is attached." in body
    assert "waitlist" not in body
    assert [p.get_content_type() for p in email.iter_attachments()] == ["text/calendar"]
    html = email.get_body(("html",))
    assert html is not None
    assert "Where: now Hall C (was Hall B)" in html.get_content()


def test_an_update_from_an_older_producer_still_names_what_changed() -> None:
    changed = _changed("updated").model_copy(update={"changed_fields": ["location"]})
    mail = RegistrantMail.telling(changed)
    assert mail is not None
    body = _plain(registrant_email(mail, sender="a@b.example", message_id="m", domain="b"))
    assert "Where: now Hall B\n" in body
    assert "(was" not in body


def test_an_update_tells_the_waitlisted_they_still_wait_and_sends_no_invitation() -> None:
    mail = RegistrantMail.telling(_moved(waitlisted=True))
    assert mail is not None
    assert (mail.kind, mail.invitation_ics, mail.sequence) == (EventMailKind.UPDATE, None, None)
    email = registrant_email(mail, sender="a@b.example", message_id="m", domain="b.example")
    assert list(email.iter_attachments()) == []
    assert [p.get_content_type() for p in email.walk()] == [
        "multipart/alternative",
        "text/plain",
        "text/html",
    ]
    body = _plain(email)
    assert "You are still on the waitlist: your place is not confirmed" in body
    assert "If a seat frees up" in body
    assert "Where: now Hall C (was Hall B)" in body
    assert "Starts: now Monday 29 March 2027, 18:00 CEST" in body
    # The online link is for those with a seat: named as changed, not shown.
    assert "meet.example" not in body
    assert "attached" not in body
    assert "Your place on the waitlist (or to cancel it): https://crm.example/manage" in body
    assert "Your registration" not in body


def test_a_cancellation_tells_the_waitlisted_without_a_calendar_update() -> None:
    cancelled = _changed("cancelled").model_copy(update={"waitlisted": True})
    mail = RegistrantMail.telling(cancelled)
    assert mail is not None
    email = registrant_email(mail, sender="a@b.example", message_id="m", domain="b.example")
    assert list(email.iter_attachments()) == []
    body = _plain(email)
    assert "Campus day has been cancelled: Venue flooded" in body
    assert "You were on its waitlist" in body
    assert "attached" not in body
