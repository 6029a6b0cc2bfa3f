"""The event pages rendered in-process against a stand-in API: what each shows for what the API
says and what it asks the API (the real API: tests/e2e/test_console_admin.py)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import httpx
import pytest

from crm_console.domain.events import (
    attendance,
    code_of,
    door_matches,
    event_form,
    event_question_rows,
    event_session_rows,
    form_values,
    may_cancel,
    off_day_door,
    readmission_note,
    registration_closed_note,
    registration_path,
    row_errors,
    upload_summary,
    waitlist_note,
    walk_in_outcome,
    walk_in_person,
    was_readmitted,
)
from crm_shared import Principal
from unit.console.test_pages import Api, gateway_headers

pytestmark = pytest.mark.unit

ALICE = Principal(tenant_id="acme", user_id="alice", roles=frozenset({"admin"}))
VIC = Principal(tenant_id="acme", user_id="vic", roles=frozenset({"viewer"}))
Console = tuple[httpx.AsyncClient, Api]
HTMX = {"hx-request": "true"}

EVENT = {
    "id": "ev1",
    "name": "Backend meetup",
    "kind": "meetup",
    "starts_at": "2027-03-25T17:00:00Z",
    "location": "Malmö",
    "capacity": 2,
    "registered": 2,
    "created_at": "2026-12-01T10:00:00Z",
    "status": "published",
    "version": 3,
    "updated_at": None,
    "cancelled_at": None,
    "cancellation_reason": None,
}


def person(
    rid: str, first: str, last: str, status: str = "registered", **more: object
) -> dict[str, object]:
    return {
        "id": rid,
        "event_id": "ev1",
        # The events service draws codes at random; here, the id's start stands in.
        "code": rid[:8].upper(),
        "status": status,
        "registered_at": more.pop("registered_at", "2026-12-02T10:00:00Z"),
        "email": f"{first.lower()}@example.org",
        "first_name": first,
        "last_name": last,
        "candidate_id": None,
        "checked_in_at": more.pop("checked_in_at", None),
        "walk_in": False,
        **more,
    }


REGISTRATIONS = [
    person("b7c1d2e3f4a5", "Zoë", "Ångström", checked_in_at="2027-03-25T17:05:00Z"),
    person("a1b2c3d4e5f6", "Ada", "Lovelace"),
    person("ffff00001111", "Wait", "Second", "waitlisted", registered_at="2026-12-04T00:00:00Z"),
    person("eeee00001111", "Wait", "First", "waitlisted", registered_at="2026-12-03T00:00:00Z"),
]


def body_of(request: httpx.Request) -> object:
    return json.loads(request.content)


def test_the_event_forms_question_rows_become_the_apis_questions() -> None:
    form = event_form(
        {
            "name": "Campus day",
            "kind": "campus",
            "starts_at": "2031-05-12T10:00",
            "capacity": "40",
            "q0.id": "team",
            "q0.label": "Which team? (renamed)",
            "q0.kind": "choice",
            "q0.options": " Backend \r\n\r\nData\n",
            "q0.required": "on",
            "q0.purpose": "marketing",
            "q1.label": "Süße Träume?",
            "q1.kind": "yes_no",
            "q1.help": "Just asking",
            "q2.label": "  ",  # a blank row, or a question taken out
            "q2.kind": "text",
            "q3.label": "Süße Träume?",
            "q3.kind": "consent",
            "q3.required": "on",
            "q3.purpose": "talent_community",
            "q10.label": "2026 plans",
            "q11.label": "Team",  # new: its id must not be the one a kept question holds
            "q12.id": "team_2",
            "q12.label": "Kept",
        }
    )
    assert form.body["questions"] == [
        {
            "id": "team",  # the id it had: its answers stay linked
            "label": "Which team? (renamed)",
            "kind": "choice",
            "required": True,
            "options": ["Backend", "Data"],
            "purpose": None,
            "help": None,
        },
        {
            "id": "susse_traume",
            "label": "Süße Träume?",
            "kind": "yes_no",
            "required": False,
            "options": [],
            "purpose": None,
            "help": "Just asking",
        },
        {
            "id": "susse_traume_2",
            "label": "Süße Träume?",
            "kind": "consent",
            "required": False,  # a consent box is never required
            "options": [],
            "purpose": "talent_community",
            "help": None,
        },
        {
            "id": "q_2026_plans",
            "label": "2026 plans",
            "kind": "text",
            "required": False,
            "options": [],
            "purpose": None,
            "help": None,
        },
        {
            "id": "team_3",
            "label": "Team",
            "kind": "text",
            "required": False,
            "options": [],
            "purpose": None,
            "help": None,
        },
        {
            "id": "team_2",
            "label": "Kept",
            "kind": "text",
            "required": False,
            "options": [],
            "purpose": None,
            "help": None,
        },
    ]
    assert [row["label"] for row in form.questions] == [
        "Which team? (renamed)",
        "Süße Träume?",
        "Süße Träume?",
        "2026 plans",
        "Team",
        "Kept",
    ]


def test_an_events_questions_fill_the_edit_forms_rows_and_refusals_find_their_row() -> None:
    rows = event_question_rows(
        {
            "questions": [
                {
                    "id": "team",
                    "label": "Team?",
                    "kind": "choice",
                    "required": True,
                    "options": ["A", "B"],
                    "purpose": None,
                    "help": None,
                }
            ]
        }
    )
    assert rows == [
        {
            "id": "team",
            "label": "Team?",
            "kind": "choice",
            "required": "on",
            "options": "A\nB",
            "purpose": "",
            "help": "",
        }
    ]
    assert event_form({"q0." + part: value for part, value in rows[0].items()}).body["questions"][
        0
    ]["options"] == ["A", "B"]
    assert row_errors(
        {
            "questions[1]": "a choice has 2 to 30 options",
            "questions.0.label": "too long",
            "sessions[2]": "ends after the event does",
            "name": "needed",
        }
    ) == {
        "questions[1]": "a choice has 2 to 30 options",
        "questions[0]": "too long",
        "sessions[2]": "ends after the event does",
    }


def test_the_event_forms_session_rows_become_the_apis_sessions_in_its_zone() -> None:
    form = {
        "name": "Career fair",
        "kind": "career_fair",
        "time_zone": "Europe/Berlin",
        "starts_at": "2031-06-12T09:00",
        "capacity": "40",
        "s0.id": "morning",
        "s0.name": "Morgens",
        "s0.starts_at": "2031-06-12T09:00",
        "s0.ends_at": "2031-06-12T12:00",
        "s0.capacity": "20",
        "s1.name": "Nachmittags",
        "s1.starts_at": "2031-06-12T14:00",
        "s1.capacity": "zwanzig",
        "s2.name": "",
        "s2.capacity": "5",
    }
    filled = event_form(form)
    assert filled.body["sessions"] == [
        {
            "id": "morning",
            "name": "Morgens",
            "starts_at": "2031-06-12T09:00:00",
            "ends_at": "2031-06-12T12:00:00",
            "capacity": 20,
        },
        {
            "name": "Nachmittags",
            "starts_at": "2031-06-12T14:00:00",
            "ends_at": None,
            "capacity": None,
        },
    ]
    assert filled.errors == {"sessions[1]": "a session needs a start and an end (date and time)"}
    event = {
        "time_zone": "Europe/Berlin",
        "sessions": [
            {
                "id": "morning",
                "name": "Morgens",
                "starts_at": "2031-06-12T07:00:00Z",
                "ends_at": "2031-06-12T10:00:00Z",
                "capacity": 20,
            }
        ],
    }
    assert event_session_rows(event) == [
        {
            "id": "morning",
            "name": "Morgens",
            "starts_at": "2031-06-12T09:00",
            "ends_at": "2031-06-12T12:00",
            "capacity": "20",
        }
    ]


def test_the_event_form_sends_wall_clock_times_with_their_zone() -> None:
    form = event_form(
        {
            "name": " Open house ",
            "kind": "open_house",
            "format": "hybrid",
            "starts_at": "2027-03-27T22:00",
            "ends_at": "2027-03-28T10:00",
            "time_zone": "Europe/Berlin",
            "location": "",
            "join_url": "https://meet.example.org/x",
            "capacity": "40",
            "draft": "on",
        },
        creating=True,
    )
    assert form.valid
    assert form.body == {
        "name": "Open house",
        "kind": "open_house",
        "format": "hybrid",
        "time_zone": "Europe/Berlin",
        "starts_at": "2027-03-27T22:00:00",
        "ends_at": "2027-03-28T10:00:00",
        "registration_opens_at": None,
        "registration_closes_at": None,
        "location": None,
        "join_url": "https://meet.example.org/x",
        "capacity": 40,
        "questions": [],
        "sessions": [],
        "status": "draft",
    }
    broken = event_form(
        {"kind": "party", "format": "holo", "starts_at": "soon", "time_zone": "Mars/Olympus"}
    )
    assert set(broken.errors) == {"name", "kind", "format", "starts_at", "time_zone", "capacity"}
    assert "status" not in event_form({"draft": "on"}).body  # an edit never changes the status
    # What the API would say only once the rest is valid is said with the rest, in one round.
    backwards = event_form(
        {
            "name": "Fair",
            "kind": "career_fair",
            "time_zone": "Mars/Base",
            "starts_at": "2027-03-25T18:00",
            "ends_at": "2027-03-25T17:00",
            "registration_opens_at": "2027-03-20T09:00",
            "registration_closes_at": "2027-03-20T09:00",
            "capacity": "-3",
        }
    )
    assert backwards.errors == {
        "time_zone": "not a time zone name such as Europe/Berlin or UTC",
        "ends_at": "the event must end after it starts",
        "registration_closes_at": "registration must close after it opens",
        "capacity": "Enter 1 or more.",
    }


def test_an_edit_tells_registrants_only_with_the_box_ticked() -> None:
    assert event_form({"notify_registrants": "on"}).body["notify_registrants"] is True
    assert event_form({}).body["notify_registrants"] is False  # unticked: the box sends nothing
    assert "notify_registrants" not in event_form({}, creating=True).body
    assert form_values(EVENT)["notify_registrants"] == "on"  # the edit form starts ticked


def test_the_edit_form_shows_the_times_in_the_events_zone_across_dst() -> None:
    values = form_values(
        EVENT
        | {
            "time_zone": "Europe/Berlin",
            "starts_at": "2027-03-27T21:00:00Z",
            "ends_at": "2027-03-28T08:00:00Z",
        }
    )
    assert (values["starts_at"], values["ends_at"], values["time_zone"]) == (
        "2027-03-27T22:00",
        "2027-03-28T10:00",
        "Europe/Berlin",
    )
    assert values["location"] == "Malmö"
    legacy = form_values(EVENT | {"starts_at": "2027-03-25T18:00:00+01:00"})
    assert (legacy["starts_at"], legacy["time_zone"]) == ("2027-03-25T17:00", "UTC")


def test_registrations_split_into_the_registered_by_name_and_the_waitlist_by_arrival() -> None:
    split = attendance(REGISTRATIONS)
    assert [r["last_name"] for r in split.registered] == ["Lovelace", "Ångström"]
    assert [r["last_name"] for r in split.waitlisted] == ["First", "Second"]
    assert split.checked_in == 1
    assert split.registered[0]["code"] == code_of(split.registered[0])


def test_one_waitlisted_person_let_in_at_the_door_counts_as_registered_and_checked_in() -> None:
    """The try-out's contradiction: 6 seats, 6 registered and a walk-in, 2 waitlisted of whom
    one (Priya) came. The page says what the events service and the report say: 8 registered
    (Priya with her check-in and outcome), 1 waiting, 6 checked in."""
    seated = [
        person(f"seat{i:08d}", f"P{i}", f"Seated{i}", checked_in_at="2027-03-25T17:05:00Z")
        for i in range(4)
    ]
    seated += [
        person("seat00000004", "Stay", "Away"),
        person("seat00000005", "Stayed", "Away"),
        person("walk00000000", "Walk", "In", walk_in=True, checked_in_at="2027-03-25T17:06:00Z"),
    ]
    priya = person(
        "priya0000000",
        "Priya",
        "Waiting",
        "waitlisted",
        checked_in_at="2027-03-25T17:10:00Z",
        outcome="attended",
    )
    still = person("still0000000", "Still", "Waiting", "waitlisted")
    split = attendance([*seated, priya, still], event={"time_zone": "Europe/Berlin"})
    assert len(split.registered) == 8
    assert [r["id"] for r in split.waitlisted] == ["still0000000"]
    assert split.checked_in == 6
    [shown] = [r for r in split.registered if r["id"] == "priya0000000"]
    assert (shown["checked_in_at_local"], shown["outcome"]) == ("2027-03-25T18:10", "attended")


def test_the_event_page_lists_who_cancelled_and_when_in_the_events_zone() -> None:
    gone = [
        person(
            "gone00000001", "Early", "Quitter", "cancelled", cancelled_at="2027-03-01T11:47:00Z"
        ),
        person("gone00000002", "Late", "Quitter", "cancelled", cancelled_at="2027-03-20T12:47:00Z"),
    ]
    split = attendance([*REGISTRATIONS, *gone], event={"time_zone": "Europe/Berlin"})
    assert [(r["first_name"], r["cancelled_at_local"]) for r in split.cancelled] == [
        ("Late", "2027-03-20T13:47"),
        ("Early", "2027-03-01T12:47"),
    ]
    assert all(r["status"] != "cancelled" for r in (*split.registered, *split.waitlisted))


def test_the_door_finds_by_code_exactly_or_by_the_start_of_names_and_address() -> None:
    assert [p["id"] for p in door_matches(REGISTRATIONS, "a1b2c3d4")] == ["a1b2c3d4e5f6"]
    assert [p["id"] for p in door_matches(REGISTRATIONS, "A1B2C3D4")] == ["a1b2c3d4e5f6"]
    assert [p["id"] for p in door_matches(REGISTRATIONS, " a1b2 C3D4 ")] == ["a1b2c3d4e5f6"]
    assert [p["id"] for p in door_matches(REGISTRATIONS, "A1B2-C3D4")] == ["a1b2c3d4e5f6"]
    assert [p["first_name"] for p in door_matches(REGISTRATIONS, "wait")] == ["Wait", "Wait"]
    assert [p["last_name"] for p in door_matches(REGISTRATIONS, "wait sec")] == ["Second"]
    assert [p["id"] for p in door_matches(REGISTRATIONS, "ada@example.org")] == ["a1b2c3d4e5f6"]
    assert door_matches(REGISTRATIONS, "   ") == []
    assert door_matches(REGISTRATIONS, "nobody") == []
    # Typed on a plain keyboard: accents and letters without one are folded both ways.
    assert [p["last_name"] for p in door_matches(REGISTRATIONS, "zoe angs")] == ["Ångström"]
    others = [
        person("c0c0c0c0c0c0", "Małgorzata", "O'Connor"),
        person("d0d0d0d0d0d0", "Þóra", "Guðmundsdóttir"),
        person("e0e0e0e0e0e0", "Jörg", "Müller-Lüdenscheidt"),
    ]
    for query in ("joerg mueller", "jorg muller", "luedensch", "Jörg Lüd"):
        assert [p["first_name"] for p in door_matches(others, query)] == ["Jörg"], query
    assert [p["first_name"] for p in door_matches(others, "malgorzata")] == ["Małgorzata"]
    assert [p["first_name"] for p in door_matches(others, "oconnor")] == ["Małgorzata"]
    assert [p["first_name"] for p in door_matches(others, "o connor")] == ["Małgorzata"]
    assert [p["first_name"] for p in door_matches(others, "thora gudm")] == ["Þóra"]
    assert [p["first_name"] for p in door_matches(others, "Małgo")] == ["Małgorzata"]
    assert code_of({"id": "a1b2c3d4e5f6", "code": "K7QX2MPA"}) == "K7QX2MPA"
    # A repeat registration's answer has no code: none is shown.
    assert code_of({"id": "a1b2c3d4e5f6", "code": None}) == ""
    assert registration_path("ev1") == "/console/public/events/ev1"


def test_the_door_finds_names_as_written_hyphens_apostrophes_and_marks_folded() -> None:
    # Adébáyọ̀ is written with a dot below and a grave on the o (two combining marks).
    ngozi = person("a0a0a0a0a0a0", "Ngozi", "Okonkwo-Ad\u00e9b\u00e1y\u1ecd\u0300", email="n@ex.ng")
    francois = person("b0b0b0b0b0b0", "Fran\u00e7ois", "L'H\u00f4pital", email="fl@ex.fr")
    other = person("c0c0c0c0c0c0", "Lea", "Hopper", email="lea@ex.de")
    door = [ngozi, francois, other]
    for typed in (
        "adebayo",
        "ad\u00e9",
        "Ad\u00e9b\u00e1y\u1ecd\u0300",
        "okonkwo",
        "okonkwo-adebayo",
        "ngozi adeb",
        "Okonkwo\u2011Ad\u00e9",  # a non-breaking hyphen, as a phone keyboard may insert
    ):
        assert [p["first_name"] for p in door_matches(door, typed)] == ["Ngozi"], typed
    for typed in (
        "l'h\u00f4pital",
        "L\u2019H\u00f4pital",
        "l\u2019hop",
        "lhopital",
        "h\u00f4pital",
        "l hopital",
        "francois l'hopital",
    ):
        assert [p["first_name"] for p in door_matches(door, typed)] == ["Fran\u00e7ois"], typed
    # Hyphens split the query's words as they split names: both parts must still start one.
    assert door_matches(door, "okonkwo-smith") == []
    assert door_matches(door, "l'hopitalx") == []


def test_the_door_finds_an_accented_address_typed_with_or_without_its_accents() -> None:
    jose = person("a0a0a0a0a0a0", "José", "Núñez", email="josé.núñez@example.es")
    zoe = person("b0b0b0b0b0b0", "Zoë", "Ang", email="zoe.ang@example.org")
    jorg = person("c0c0c0c0c0c0", "Jörg", "Åberg", email="J.Aberg@Firma.DE")
    door = [zoe, jose, jorg]
    for typed in (
        "josé.n",
        "jose.n",
        "josé.núñez@",
        "jose.nunez@",
        "josé.núñez@example.es",
        "JOSE.NUNEZ@EXAMPLE.ES",
        "núñez",
        "nunez@ex",
        "José Núñez",
    ):
        assert [p["first_name"] for p in door_matches(door, typed)] == ["José"], typed
    assert [p["first_name"] for p in door_matches(door, "zoe.ang")] == ["Zoë"]
    assert [p["first_name"] for p in door_matches(door, "zoë.ang@example.org")] == ["Zoë"]
    # An address stored with accents or capitals is found by its plain spelling, and back.
    assert [p["first_name"] for p in door_matches(door, "j.aberg@firma.de")] == ["Jörg"]
    assert [p["first_name"] for p in door_matches(door, "jörg åberg")] == ["Jörg"]


def test_the_door_finds_any_part_of_an_address_those_starting_a_part_first() -> None:
    door = [
        person("a0a0a0a0a0a0", "José", "Núñez", email="josé.núñez@example.es"),
        person("b0b0b0b0b0b0", "Zoë", "Ang", email="zoe.ang@example.org"),
        person("c0c0c0c0c0c0", "Anna", "Berg", email="anna@berg.se"),
        person("d0d0d0d0d0d0", "Hanna", "Abel", email="hanna@abel.se"),
    ]
    # The domain, or any part of it, as a door person reads it off a badge or a mail.
    assert [p["first_name"] for p in door_matches(door, "example.es")] == ["José"]
    assert [p["first_name"] for p in door_matches(door, "@example")] == ["Zoë", "José"]
    assert [p["first_name"] for p in door_matches(door, "ñez@exam")] == ["José"]
    assert [p["first_name"] for p in door_matches(door, ".se")] == ["Hanna", "Anna"]
    # `ann` starts Anna's name and is inside Hanna's address: Anna first, then Hanna.
    assert [p["first_name"] for p in door_matches(door, "ann")] == ["Anna", "Hanna"]
    assert [p["first_name"] for p in door_matches(door, "ann berg")] == ["Anna"]
    assert door_matches(door, "example.com") == []


async def test_the_list_labels_its_start_column_as_the_rows_show_it(console: Console) -> None:
    client, api = console
    berlin = EVENT | {
        "time_zone": "Europe/Berlin",
        "starts_at": "2026-12-19T17:00:00Z",
        "starts_at_local": "2026-12-19T18:00:00+01:00",
    }
    api.answer("GET", "/api/v1/events", body=[berlin])
    page = await client.get("/console/events", headers=gateway_headers(ALICE))
    assert page.status_code == 200
    # Each row shows the start in the event's own zone, named beside it: not UTC.
    assert '<time datetime="2026-12-19T18:00:00+01:00">2026-12-19 18:00</time>' in page.text
    assert '<span class="muted">Europe/Berlin</span>' in page.text
    assert '<th scope="col">Starts (event\'s time zone)</th>' in page.text
    assert "(UTC)" not in page.text


async def test_the_list_offers_a_new_event_only_to_who_may_create_one(console: Console) -> None:
    client, api = console
    api.answer("GET", "/api/v1/events", body=[EVENT])
    page = await client.get("/console/events", headers=gateway_headers(ALICE))
    assert page.status_code == 200
    assert "Backend meetup" in page.text
    assert "2 / 2" in page.text
    assert 'href="/console/events/new"' in page.text
    viewer = await client.get("/console/events", headers=gateway_headers(VIC))
    assert 'href="/console/events/new"' not in viewer.text


async def test_creating_an_event_sends_every_field_and_opens_it(console: Console) -> None:
    client, api = console
    api.answer("POST", "/api/v1/events", 201, EVENT)
    form = {
        "name": "Backend meetup",
        "kind": "meetup",
        "starts_at": "2027-03-25T18:00",
        "time_zone": "Europe/Stockholm",
        "location": "Malmö",
        "capacity": "2",
    }
    answer = await client.post(
        "/console/events", data=form, headers={**gateway_headers(ALICE), **HTMX}
    )
    assert answer.status_code == 204
    assert answer.headers["hx-redirect"] == "/console/events/ev1"
    [call] = api.calls
    assert body_of(call) == {
        "name": "Backend meetup",
        "kind": "meetup",
        "format": "in_person",
        "time_zone": "Europe/Stockholm",
        "starts_at": "2027-03-25T18:00:00",
        "ends_at": None,
        "registration_opens_at": None,
        "registration_closes_at": None,
        "location": "Malmö",
        "join_url": None,
        "capacity": 2,
        "questions": [],
        "sessions": [],
    }


async def test_the_apis_refusal_shows_next_to_its_field(console: Console) -> None:
    client, api = console
    api.answer(
        "POST",
        "/api/v1/events",
        422,
        {
            "title": "Request validation failed",
            "status": 422,
            "detail": "invalid request: capacity",
            "errors": [{"field": "body.capacity", "detail": "must be at most 100000"}],
        },
    )
    form = {"name": "Big", "kind": "meetup", "starts_at": "2027-01-01T10:00", "capacity": "9999999"}
    answer = await client.post(
        "/console/events", data=form, headers={**gateway_headers(ALICE), **HTMX}
    )
    assert answer.status_code == 422
    assert "<html" not in answer.text
    assert 'id="e-capacity">must be at most 100000<' in answer.text
    assert 'aria-invalid="true" aria-describedby="h-capacity e-capacity"' in answer.text
    assert 'value="Big"' in answer.text


async def test_a_form_the_console_can_tell_is_wrong_is_not_sent(console: Console) -> None:
    client, api = console
    form = {"name": "X", "kind": "meetup", "starts_at": "2027-01-01T10:00", "capacity": "3"}
    answer = await client.post(
        "/console/events",
        data=form | {"time_zone": "Nowhere/Special"},
        headers={**gateway_headers(ALICE), **HTMX},
    )
    assert answer.status_code == 422
    assert "not a time zone name" in answer.text
    assert api.calls == []


async def test_the_edit_form_shows_the_events_questions_and_room_for_more(
    console: Console,
) -> None:
    client, api = console
    team = {
        "id": "team",
        "label": "Which team?",
        "kind": "choice",
        "required": True,
        "options": ["Backend", "Data"],
        "purpose": None,
        "help": None,
    }
    api.answer("GET", "/api/v1/events/ev1", body=EVENT | {"questions": [team]})
    page = await client.get("/console/events/ev1/edit", headers=gateway_headers(ALICE))
    assert page.status_code == 200
    assert '<input type="hidden" name="q0.id" value="team">' in page.text
    assert 'name="q0.label" value="Which team?"' in page.text
    assert '<option value="choice" selected>' in page.text
    assert ">Backend\nData</textarea>" in page.text
    assert page.text.count('data-testid="question-row"') == 3  # and two blank rows
    assert '<input type="checkbox" name="notify_registrants" value="on" checked' in page.text, (
        "the edit form offers telling registrants, ticked"
    )


async def test_an_edit_names_the_version_it_was_made_from(console: Console) -> None:
    client, api = console
    api.answer(
        "PATCH",
        "/api/v1/events/ev1",
        412,
        {"title": "Precondition Failed", "status": 412, "detail": "event ev1 is at version 4"},
    )
    form = {
        "version": "3",
        "name": "Renamed",
        "kind": "meetup",
        "starts_at": "2027-03-25T17:00",
        "time_zone": "UTC",
        "capacity": "5",
    }
    answer = await client.post(
        "/console/events/ev1", data=form, headers={**gateway_headers(ALICE), **HTMX}
    )
    assert answer.status_code == 412
    assert "event ev1 is at version 4" in answer.text
    [call] = api.calls
    assert call.headers["if-match"] == '"3"'
    assert json.loads(call.content)["notify_registrants"] is False  # the box was not ticked


MORNING = {
    "id": "morning",
    "name": "Morgens",
    "starts_at": "2027-03-25T08:00:00Z",
    "ends_at": "2027-03-25T11:00:00Z",
    "starts_at_local": "2027-03-25T09:00:00+01:00",
    "ends_at_local": "2027-03-25T12:00:00+01:00",
    "capacity": 1,
    "registered": 1,
    "places_left": 0,
}


async def test_an_event_with_sessions_shows_them_in_its_page_and_its_edit_form(
    console: Console,
) -> None:
    client, api = console
    event = EVENT | {"time_zone": "Europe/Berlin", "sessions": [MORNING]}
    seated = person("a1b2c3d4", "Ada", "Lovelace", session_id="morning")
    waiting = person("e5f6a7b8", "Wait", "First", "waitlisted", session_id="morning")
    api.answer("GET", "/api/v1/events/ev1", body=event)
    api.answer_pages("/api/v1/events/ev1/registrations", [seated, waiting])
    page = await client.get("/console/events/ev1", headers=gateway_headers(ALICE))
    assert page.status_code == 200
    table = page.text[page.text.index('data-testid="sessions"') :]
    assert "<td>Morgens</td>" in table
    assert "<td>1</td><td>1</td><td>1</td></tr>" in table  # seats, registered, waiting
    assert "wait@example.org · Morgens ·" in page.text  # the waitlisted person's session
    form = await client.get("/console/events/ev1/edit", headers=gateway_headers(ALICE))
    assert '<input type="hidden" name="s0.id" value="morning">' in form.text
    assert 'name="s0.starts_at" type="datetime-local" value="2027-03-25T09:00"' in form.text
    assert form.text.count('data-testid="session-row"') == 3  # and two blank rows


async def test_a_session_the_api_refuses_to_drop_is_explained_on_the_form(
    console: Console,
) -> None:
    client, api = console
    api.answer(
        "PATCH",
        "/api/v1/events/ev1",
        409,
        {
            "title": "Conflict",
            "status": 409,
            "detail": "1 people registered for the session 'Morgens'; it cannot be removed",
        },
    )
    form = {
        "version": "3",
        "name": "Backend meetup",
        "kind": "meetup",
        "starts_at": "2027-03-25T17:00",
        "time_zone": "UTC",
        "capacity": "5",
    }
    answer = await client.post(
        "/console/events/ev1", data=form, headers={**gateway_headers(ALICE), **HTMX}
    )
    assert answer.status_code == 409
    assert "it cannot be removed" in answer.text
    [call] = api.calls
    assert json.loads(call.content)["sessions"] == []


async def test_an_event_shows_its_link_registrations_and_waitlist(console: Console) -> None:
    client, api = console
    api.answer("GET", "/api/v1/events/ev1", body=EVENT)
    api.answer_pages("/api/v1/events/ev1/registrations", REGISTRATIONS)
    page = await client.get("/console/events/ev1", headers=gateway_headers(ALICE))
    assert page.status_code == 200
    assert 'value="/console/public/events/ev1" data-absolute-link' in page.text
    assert "Registered (2)" in page.text
    assert "Waitlist (2)" in page.text
    assert page.text.index("Wait First") < page.text.index("Wait Second")
    assert 'data-testid="checked-in-count">1<' in page.text
    assert "<code>A1B2C3D4</code>" in page.text
    assert "Cancel event" in page.text
    assert "Delete event" not in page.text


async def test_an_event_page_reads_every_page_of_its_registrations(console: Console) -> None:
    client, api = console
    api.answer("GET", "/api/v1/events/ev1", body=EVENT)
    # More registrants than one page of the API holds: all of them show, none twice.
    api.answer_pages(
        "/api/v1/events/ev1/registrations", REGISTRATIONS[:2], REGISTRATIONS[2:3], REGISTRATIONS[3:]
    )
    page = await client.get("/console/events/ev1", headers=gateway_headers(ALICE))
    assert page.status_code == 200, page.text
    assert "Registered (2)" in page.text
    assert "Waitlist (2)" in page.text
    assert page.text.index("Wait First") < page.text.index("Wait Second")
    reads = [c for c in api.calls if c.url.path == "/api/v1/events/ev1/registrations"]
    assert [(c.url.params["limit"], c.url.params.get("cursor")) for c in reads] == [
        ("200", None),
        ("200", "page2"),
        ("200", "page3"),
    ]


async def test_the_door_finds_a_registrant_on_a_later_page(console: Console) -> None:
    client, api = console
    api.answer_pages("/api/v1/events/ev1/registrations", REGISTRATIONS[:1], REGISTRATIONS[1:])
    found = await client.get(
        "/console/events/ev1/check-in",
        params={"q": "a1b2c3d4"},
        headers={**gateway_headers(ALICE), **HTMX},
    )
    assert found.status_code == 200, found.text
    assert "Ada Lovelace" in found.text
    assert 'hx-post="/console/events/ev1/check-in/a1b2c3d4e5f6"' in found.text
    by_name = await client.get(
        "/console/events/ev1/check-in",
        params={"q": "wait"},
        headers={**gateway_headers(ALICE), **HTMX},
    )
    assert "Wait First" in by_name.text
    assert "Wait Second" in by_name.text
    # With the event's counts, checking a waitlisted person in says what it does to the seats.
    api.answer("GET", "/api/v1/events/ev1", body=EVENT | {"registered": 1, "capacity": 1})
    noted = await client.get(
        "/console/events/ev1/check-in",
        params={"q": "wait"},
        headers={**gateway_headers(ALICE), **HTMX},
    )
    assert "On the waitlist, and the event is full: checking them in seats them over" in noted.text


async def test_an_event_nobody_registered_for_can_be_deleted(console: Console) -> None:
    client, api = console
    api.answer("GET", "/api/v1/events/ev1", body=EVENT)
    api.answer_pages("/api/v1/events/ev1/registrations", [])
    page = await client.get("/console/events/ev1", headers=gateway_headers(ALICE))
    assert 'hx-post="/console/events/ev1/delete"' in page.text
    # A registration cancelled since still keeps the event (the API refuses to delete it).
    cancelled = [REGISTRATIONS[0] | {"status": "cancelled"}]
    api.answer_pages("/api/v1/events/ev1/registrations", cancelled)
    page = await client.get("/console/events/ev1", headers=gateway_headers(ALICE))
    assert "/console/events/ev1/delete" not in page.text

    api.routes[("DELETE", "/api/v1/events/ev1")] = httpx.Response(204)
    deleted = await client.post(
        "/console/events/ev1/delete", headers={**gateway_headers(ALICE), **HTMX}
    )
    assert deleted.status_code == 204
    assert deleted.headers["HX-Redirect"] == "/console/events"
    assert [c.method for c in api.calls if c.url.path == "/api/v1/events/ev1"][-1] == "DELETE"

    api.answer(
        "DELETE",
        "/api/v1/events/ev1",
        409,
        {"status": 409, "title": "Conflict", "detail": "people registered for this event"},
    )
    refused = await client.post(
        "/console/events/ev1/delete", headers={**gateway_headers(ALICE), **HTMX}
    )
    assert refused.status_code == 409
    assert "people registered for this event" in refused.text


async def test_an_event_page_shows_each_registrants_outcome_and_mails_failures_first(
    console: Console,
) -> None:
    client, api = console
    completed = [
        REGISTRATIONS[0] | {"outcome": "attended"},
        REGISTRATIONS[1] | {"outcome": "no_show"},
    ]
    api.answer("GET", "/api/v1/events/ev1", body=EVENT | {"status": "completed"})
    api.answer_pages("/api/v1/events/ev1/registrations", completed)
    mail = {"event_id": "ev1", "registration_id": "a1b2c3d4e5f6", "reason": None}
    api.answer(
        "GET",
        "/api/v1/event-mails",
        body={
            "items": [
                mail | {"kind": "confirmation", "status": "sent", "recorded_at": "2027-03-01"},
                mail
                | {
                    "kind": "update",
                    "status": "failed",
                    "reason": "SMTPServerDisconnected()",
                    "recorded_at": "2027-03-02",
                },
            ],
            "next_cursor": None,
        },
    )
    page = await client.get("/console/events/ev1", headers=gateway_headers(ALICE))
    assert page.status_code == 200
    assert "update failed: SMTPServerDisconnected(); confirmation sent" in page.text
    assert "<td>no-show</td>" in page.text
    assert "<td>attended</td>" in page.text
    [asked] = [c for c in api.calls if c.url.path == "/api/v1/event-mails"]
    assert asked.url.params["event_id"] == "ev1"


REPORT = {
    "event_id": "ev1",
    "event_name": "Backend meetup",
    "status": "completed",
    "starts_at": "2027-03-25T17:00:00Z",
    "completed_at": "2027-03-25T20:00:00Z",
    "within_days": 90,
    "window_end": "2027-06-23T17:00:00Z",
    "registrations": 6,
    "registered": 4,
    "waitlisted": 1,
    "cancelled": 1,
    "checked_in": 2,
    "walk_ins": 1,
    "attended": 2,
    "no_shows": 2,
    "no_show_rate": 0.5,
    "by_channel": {"online": 5, "walk_in": 1},
    "by_source": {"event": 4, "unknown": 2},
    "applied": {"count": 1, "candidate_ids": ["c-ada"], "truncated": False},
    "hired": {"count": 0, "candidate_ids": [], "truncated": False},
}


async def test_an_event_page_shows_its_report_in_tables_with_headers(console: Console) -> None:
    client, api = console
    api.answer("GET", "/api/v1/events/ev1", body=EVENT | {"status": "completed"})
    api.answer_pages("/api/v1/events/ev1/registrations", REGISTRATIONS)
    api.answer("GET", "/api/v1/analytics/events/ev1", body=REPORT)
    page = await client.get("/console/events/ev1", headers=gateway_headers(ALICE))
    assert page.status_code == 200
    text = " ".join(page.text.split())
    assert '<th scope="row">Waitlisted</th><td>1</td>' in text
    assert '<th scope="row">No-shows</th><td>2</td>' in text
    assert '<th scope="row">No-show rate</th><td>50 %</td>' in text
    # Sources as the candidate list names them.
    assert '<th scope="row">Event</th><td>4</td>' in text
    assert '<th scope="row">Not known</th><td>2</td>' in text
    assert "within 90 days of the start" in text
    assert '<a href="/console/candidates/c-ada">c-ada</a>' in text
    assert "<caption" in text


async def test_an_events_report_downloads_as_the_apis_csv(console: Console) -> None:
    client, api = console
    api.answer("GET", "/api/v1/events/ev1", body=EVENT | {"status": "completed"})
    api.answer_pages("/api/v1/events/ev1/registrations", REGISTRATIONS)
    api.answer("GET", "/api/v1/analytics/events/ev1", body=REPORT)
    page = await client.get("/console/events/ev1", headers=gateway_headers(ALICE))
    assert 'href="/console/events/ev1/report.csv" download' in page.text

    exported = "\ufeffevent_id,figure,key,value\r\nev1,registrations,,6\r\n".encode()
    api.routes[("GET", "/api/v1/analytics/events/ev1")] = httpx.Response(
        200,
        content=exported,
        headers={
            "content-type": "text/csv; charset=utf-8",
            "content-disposition": 'attachment; filename="event-ev1-report.csv"',
        },
    )
    api.calls.clear()
    download = await client.get("/console/events/ev1/report.csv", headers=gateway_headers(ALICE))
    assert download.status_code == 200
    assert download.content == exported
    assert download.headers["content-type"] == "text/csv; charset=utf-8"
    assert download.headers["content-disposition"] == 'attachment; filename="event-ev1-report.csv"'
    [call] = api.calls
    assert (call.url.path, dict(call.url.params)) == (
        "/api/v1/analytics/events/ev1",
        {"format": "csv"},
    )


async def test_an_event_page_says_why_it_has_no_report(console: Console) -> None:
    client, api = console
    api.answer("GET", "/api/v1/events/ev1", body=EVENT)
    api.answer_pages("/api/v1/events/ev1/registrations", [])
    page = await client.get("/console/events/ev1", headers=gateway_headers(ALICE))
    assert page.status_code == 200
    assert "Not available: nothing counted yet" in page.text
    assert "report.csv" not in page.text  # no report, nothing to download
    api.answer(
        "GET",
        "/api/v1/analytics/events/ev1",
        status=200,
        body=REPORT | {"status": "scheduled", "no_show_rate": None, "no_shows": 0},
    )
    page = await client.get("/console/events/ev1", headers=gateway_headers(ALICE))
    assert "once the event is completed" in page.text


async def test_a_draft_offers_publishing_and_the_apis_refusal_shows_by_it(
    console: Console,
) -> None:
    client, api = console
    draft = EVENT | {"status": "draft", "format": "virtual", "join_url": "https://meet.x/y"}
    api.answer("GET", "/api/v1/events/ev1", body=draft)
    api.answer_pages("/api/v1/events/ev1/registrations", [])
    page = await client.get("/console/events/ev1", headers=gateway_headers(ALICE))
    assert 'data-testid="publish-event"' in page.text
    assert "Mark completed" not in page.text
    assert "opens once you publish it" in page.text
    assert 'data-testid="draft-started"' not in page.text
    assert "publish it all the same" not in page.text
    api.answer(
        "POST",
        "/api/v1/events/ev1/publish",
        409,
        {"title": "Conflict", "status": 409, "detail": "the event is published"},
    )
    refused = await client.post(
        "/console/events/ev1/publish", headers={**gateway_headers(ALICE), **HTMX}
    )
    assert refused.status_code == 409
    assert "the event is published" in refused.text


async def test_a_draft_whose_start_has_passed_says_so_and_asks_before_publishing(
    console: Console,
) -> None:
    """A mistyped year publishes an event nobody can register for: the page says so."""
    client, api = console
    past = EVENT | {"status": "draft", "starts_at": "2026-01-15T17:00:00Z"}
    api.answer("GET", "/api/v1/events/ev1", body=past)
    api.answer_pages("/api/v1/events/ev1/registrations", [])
    page = await client.get("/console/events/ev1", headers=gateway_headers(ALICE))
    assert 'data-testid="draft-started"' in page.text
    assert 'href="/console/events/ev1/edit">change it</a>' in page.text
    assert "has started already: publish it all the same?" in page.text


async def test_the_door_finds_a_registrant_and_checks_them_in(console: Console) -> None:
    client, api = console
    ada = REGISTRATIONS[1] | {"session_id": "morning", "session_name": "Morgens"}
    api.answer_pages("/api/v1/events/ev1/registrations", [REGISTRATIONS[0], ada])
    found = await client.get(
        "/console/events/ev1/check-in",
        params={"q": "a1b2c3d4"},
        headers={**gateway_headers(ALICE), **HTMX},
    )
    assert found.status_code == 200
    assert "Ada Lovelace" in found.text
    assert "<code>A1B2C3D4</code> · Morgens</span>" in found.text  # her time slot
    assert "Zoë" not in found.text
    assert 'hx-post="/console/events/ev1/check-in/a1b2c3d4e5f6"' in found.text
    api.answer(
        "POST",
        "/api/v1/events/ev1/registrations/a1b2c3d4e5f6/check-in",
        body=REGISTRATIONS[1] | {"checked_in_at": "2027-03-25T17:10:00Z"},
    )
    checked = await client.post(
        "/console/events/ev1/check-in/a1b2c3d4e5f6", headers={**gateway_headers(ALICE), **HTMX}
    )
    assert checked.status_code == 200
    assert 'id="person-a1b2c3d4e5f6"' in checked.text
    assert "Checked in" in checked.text
    assert "hx-post" not in checked.text
    # The event's own zone, said so, not UTC unlabelled (the event could not be read above).
    assert "17:10</time> (UTC)" in checked.text
    api.answer("GET", "/api/v1/events/ev1", body=EVENT | {"time_zone": "Europe/Berlin"})
    again = await client.post(
        "/console/events/ev1/check-in/a1b2c3d4e5f6", headers={**gateway_headers(ALICE), **HTMX}
    )
    assert "2027-03-25 18:10</time> (Europe/Berlin)" in again.text


async def test_an_early_door_says_so_and_asks_before_each_check_in(console: Console) -> None:
    """Before the event's day (in its zone) a check-in still counts as attendance, while an
    offline upload of one is refused: the door says so and asks first; on the day it does not."""
    client, api = console
    early = EVENT | {"starts_at": "2099-12-20T17:00:00Z", "time_zone": "Europe/Zurich"}
    api.answer("GET", "/api/v1/events/ev1", body=early)
    api.answer_pages("/api/v1/events/ev1/registrations", [REGISTRATIONS[1]])
    page = await client.get("/console/events/ev1/check-in", headers=gateway_headers(ALICE))
    assert "Check-in opens on the event's day, 2099-12-20 (Europe/Zurich)" in page.text
    # The name set apart: a right-to-left one would otherwise turn the date after it round.
    assert '<p class="lead"><bdi>Backend meetup</bdi> · ' in page.text
    assert "hx-confirm=\"The event's day is 2099-12-20: check this walk-in in" in page.text.replace(
        "&#39;", "'"
    )
    found = await client.get(
        "/console/events/ev1/check-in",
        params={"q": "a1b2c3d4"},
        headers={**gateway_headers(ALICE), **HTMX},
    )
    assert "2099-12-20: check Ada in now all the same?" in found.text

    today = EVENT | {"starts_at": datetime.now(UTC).isoformat(), "time_zone": "UTC"}
    api.answer("GET", "/api/v1/events/ev1", body=today)
    page = await client.get("/console/events/ev1/check-in", headers=gateway_headers(ALICE))
    assert "door-early" not in page.text
    assert "hx-confirm" not in page.text


def test_the_door_is_off_day_before_the_events_first_day_and_after_its_last_in_its_zone() -> None:
    event = {"starts_at": "2026-12-20T17:00:00+00:00", "time_zone": "Pacific/Auckland"}
    # 21 December in Auckland (UTC+13): the door opens when 21 December begins there.
    early = off_day_door(event, datetime(2026, 12, 20, 10, 59, tzinfo=UTC))
    assert early is not None
    assert (early.day, early.early, early.question) == (
        "2026-12-21",
        True,
        "The event's day is 2026-12-21:",
    )
    assert off_day_door(event, datetime(2026, 12, 20, 11, 0, tzinfo=UTC)) is None
    # Its day ends at midnight in Auckland: from then on the door is late.
    assert off_day_door(event, datetime(2026, 12, 21, 10, 59, tzinfo=UTC)) is None
    late = off_day_door(event, datetime(2026, 12, 21, 11, 0, tzinfo=UTC))
    assert late is not None
    assert (late.day, late.early, late.question) == (
        "2026-12-21",
        False,
        "The event ended on 2026-12-21:",
    )
    # A fair over three days is on its days until the last one ends.
    fair = event | {"ends_at": "2026-12-22T20:00:00+00:00"}
    assert off_day_door(fair, datetime(2026, 12, 22, 10, 0, tzinfo=UTC)) is None
    assert off_day_door({"starts_at": "not a time"}, datetime.now(UTC)) is None


async def test_a_door_after_the_event_says_so_and_asks_before_each_check_in(
    console: Console,
) -> None:
    """Weeks later a check-in still records attendance (a no-show becomes an attendee): the
    door says the event is over and asks before each one."""
    client, api = console
    past = EVENT | {"starts_at": "2026-10-01T17:00:00Z", "time_zone": "Europe/Zurich"}
    api.answer("GET", "/api/v1/events/ev1", body=past)
    api.answer_pages("/api/v1/events/ev1/registrations", [REGISTRATIONS[1]])
    page = await client.get("/console/events/ev1/check-in", headers=gateway_headers(ALICE))
    assert 'data-testid="door-late"' in page.text
    assert "The event ended on 2026-10-01 (Europe/Zurich)" in page.text
    found = await client.get(
        "/console/events/ev1/check-in",
        params={"q": "a1b2c3d4"},
        headers={**gateway_headers(ALICE), **HTMX},
    )
    assert "The event ended on 2026-10-01: check Ada in now all the same?" in found.text


async def test_without_script_the_event_status_buttons_ask_first(console: Console) -> None:
    """With script the buttons ask in the browser (`hx-confirm`); without, the console asks
    with a page whose form posts again, confirmed, keeping what was typed (the reason)."""
    client, api = console
    api.answer("GET", "/api/v1/events/ev1", body=EVENT)
    asked = await client.post(
        "/console/events/ev1/cancel",
        data={"reason": "Salle fermée"},
        headers=gateway_headers(ALICE),
    )
    assert asked.status_code == 200
    assert "Cancel Backend meetup? Registration closes and this cannot be undone." in asked.text
    assert '<input type="hidden" name="reason" value="Salle fermée">' in asked.text
    assert '<button type="submit" class="danger">Cancel event</button>' in asked.text
    assert not [c for c in api.calls if c.method == "POST"]

    api.answer("POST", "/api/v1/events/ev1/cancel", 204, None)
    cancelled = await client.post(
        "/console/events/ev1/cancel",
        data={"reason": "Salle fermée", "confirmed": "1"},
        headers=gateway_headers(ALICE),
    )
    assert (cancelled.status_code, cancelled.headers["location"]) == (303, "/console/events/ev1")
    assert body_of(next(c for c in api.calls if c.method == "POST")) == {"reason": "Salle fermée"}

    deleting = await client.post("/console/events/ev1/delete", headers=gateway_headers(ALICE))
    assert "Delete Backend meetup? It cannot be brought back." in deleting.text
    completing = await client.post("/console/events/ev1/complete", headers=gateway_headers(ALICE))
    assert "Mark Backend meetup as completed?" in completing.text
    assert [c.url.path for c in api.calls if c.method == "POST"] == ["/api/v1/events/ev1/cancel"]

    # Publishing a draft still to come asks nothing; the API's refusal is a page of its own.
    api.answer("GET", "/api/v1/events/ev1", body=EVENT | {"status": "draft"})
    api.answer(
        "POST",
        "/api/v1/events/ev1/publish",
        409,
        {"title": "Conflict", "status": 409, "detail": "the event is published"},
    )
    refused = await client.post("/console/events/ev1/publish", headers=gateway_headers(ALICE))
    assert refused.status_code == 409
    assert "the event is published" in refused.text
    assert '<a href="/console/events/ev1">← Back</a>' in refused.text
    assert "<!doctype html>" in refused.text


async def test_cancelling_twice_shows_the_apis_reason_by_the_button(console: Console) -> None:
    client, api = console
    api.answer(
        "POST",
        "/api/v1/events/ev1/cancel",
        409,
        {"title": "Conflict", "status": 409, "detail": "the event was cancelled already"},
    )
    answer = await client.post(
        "/console/events/ev1/cancel",
        data={"reason": "Venue closed"},
        headers={**gateway_headers(ALICE), **HTMX},
    )
    assert answer.status_code == 409
    assert "the event was cancelled already" in answer.text
    assert body_of(api.calls[0]) == {"reason": "Venue closed"}


PUBLIC_EVENT = {
    "id": "ev1",
    "name": "Backend meetup",
    "kind": "meetup",
    "starts_at": "2027-03-25T17:00:00Z",
    "location": "Malmö",
    "status": "published",
    "places_left": 0,
}


async def test_the_public_page_needs_no_session_and_shows_the_code(console: Console) -> None:
    client, api = console
    api.answer("GET", "/public/v1/events/ev1", body=PUBLIC_EVENT)
    visitor = {"x-forwarded-for": "203.0.113.9"}
    page = await client.get("/console/public/events/ev1", headers=visitor)
    assert page.status_code == 200
    assert "Backend meetup" in page.text
    assert "waitlist" in page.text
    assert 'hx-post="/console/public/events/ev1"' in page.text
    [read] = api.calls
    assert "cookie" not in read.headers
    assert "x-csrf-token" not in read.headers
    assert read.headers["x-forwarded-for"] == "203.0.113.9"

    api.answer(
        "POST",
        "/public/v1/events/ev1/registrations",
        201,
        {
            "id": "c0ffee123456",
            "event_id": "ev1",
            "code": "K7QX2MPA",
            "status": "waitlisted",
            "registered_at": "x",
            "invitation_url": "http://crm.example/public/v1/registrations/t/invitation.ics",
        },
    )
    done = await client.post(
        "/console/public/events/ev1",
        data={"first_name": "Zoë", "last_name": "Ångström", "email": "zoe@example.org"},
        headers={**visitor, **HTMX},
    )
    assert done.status_code == 200
    assert 'data-testid="registration-code">K7QX2MPA<' in done.text
    assert "waitlist" in done.text
    # No seat, no calendar invitation to offer (events.md: the waitlisted get none).
    assert "registration-invitation" not in done.text
    assert body_of(api.calls[-1]) == {
        "first_name": "Zoë",
        "last_name": "Ångström",
        "email": "zoe@example.org",
        "answers": {},
    }
    # Without script: a page of its own, under the event it is for (until 2026-12-07 it was
    # headed "Registration" alone).
    page = await client.post(
        "/console/public/events/ev1",
        data={"first_name": "Zoë", "last_name": "Ångström", "email": "zoe@example.org"},
        headers=visitor,
    )
    assert page.status_code == 200
    assert "<h1>Backend meetup</h1>" in page.text
    assert "<dt>When (" in page.text
    assert 'data-testid="registration-code">K7QX2MPA<' in page.text


async def test_a_public_registration_refused_shows_why_by_the_field(console: Console) -> None:
    client, api = console
    team = {
        "id": "team",
        "label": "Which team?",
        "kind": "choice",
        "required": True,
        "options": ["Backend", "Data"],
    }
    api.answer("GET", "/public/v1/events/ev1", body=PUBLIC_EVENT | {"questions": [team]})
    api.answer(
        "POST",
        "/public/v1/events/ev1/registrations",
        422,
        {
            "title": "Request validation failed",
            "status": 422,
            "detail": "invalid request: email",
            "errors": [
                {"field": "body.email", "detail": "not an e-mail address"},
                {"field": "answers.team", "detail": "the answer is one of: Backend, Data"},
            ],
        },
    )
    answer = await client.post(
        "/console/public/events/ev1",
        data={"first_name": "A", "last_name": "B", "email": "nope", "answers.team": "Data"},
        headers=HTMX,
    )
    assert answer.status_code == 422
    assert 'id="e-email">Enter an e-mail address (name@example.org).<' in answer.text
    assert 'value="nope"' in answer.text
    # The form is drawn again from the event's questions, the refusal by its field.
    assert 'id="e-answers.team">the answer is one of: Backend, Data<' in answer.text
    assert "<option selected>Data</option>" in answer.text
    sent = body_of(api.calls[0])
    assert isinstance(sent, dict)
    assert sent["answers"] == {"team": "Data"}


async def test_the_fields_extra_attributes_reach_the_page_unescaped(console: Console) -> None:
    client, _ = console
    page = await client.get("/console/events/new", headers=gateway_headers(ALICE))
    assert "min=1 max=100000 inputmode=numeric" in page.text
    assert "&#34;" not in page.text


async def test_the_door_marks_a_cancelled_registration_and_offers_no_plain_check_in(
    console: Console,
) -> None:
    client, api = console
    zoe = person("c4c4c4c4c4c4", "Zoë", "Berg", "cancelled", cancelled_at="2027-03-20T09:30:00Z")
    api.answer_pages("/api/v1/events/ev1/registrations", [*REGISTRATIONS, zoe])
    api.answer("GET", "/api/v1/events/ev1", body=EVENT | {"capacity": 3, "registered": 3})
    found = await client.get(
        "/console/events/ev1/check-in",
        params={"q": "C4C4C4C4"},
        headers={**gateway_headers(ALICE), **HTMX},
    )
    assert found.status_code == 200, found.text
    assert '<span class="badge cancelled">Cancelled</span>' in found.text
    assert "Cancelled their registration on" in found.text
    assert "Check in Zoë" not in found.text
    assert 'hx-post="/console/events/ev1/check-in/c4c4c4c4c4c4"' not in found.text
    assert 'hx-post="/console/events/ev1/check-in/c4c4c4c4c4c4/walk-in"' in found.text
    assert "Let in Zoë as walk-in" in found.text
    assert "The event is full: letting them in registers them again over its capacity" in (
        found.text
    )
    assert "takes a seat" not in found.text
    # A seat free: the button's note says it takes one.
    api.answer("GET", "/api/v1/events/ev1", body=EVENT | {"capacity": 4, "registered": 3})
    free = await client.get(
        "/console/events/ev1/check-in",
        params={"q": "zoe berg"},
        headers={**gateway_headers(ALICE), **HTMX},
    )
    assert "registers them again and takes a seat (1 seat is free)" in free.text
    # Who may not check people in sees the mark and no button.
    viewer = await client.get(
        "/console/events/ev1/check-in",
        params={"q": "C4C4C4C4"},
        headers={**gateway_headers(VIC), **HTMX},
    )
    assert '<span class="badge cancelled">Cancelled</span>' in viewer.text
    assert "hx-post" not in viewer.text


async def test_letting_in_a_cancelled_registrant_is_a_walk_in_with_their_address(
    console: Console,
) -> None:
    client, api = console
    back = person("c4c4c4c4c4c4", "Zoë", "Berg", checked_in_at="2027-03-25T17:10:00Z")
    api.answer("POST", "/api/v1/events/ev1/walk-ins", 200, back)
    # Read after: the event counts them, over its capacity of 3.
    api.answer("GET", "/api/v1/events/ev1", body=EVENT | {"capacity": 3, "registered": 4})
    let_in = await client.post(
        "/console/events/ev1/check-in/c4c4c4c4c4c4/walk-in",
        data={"first_name": "Zoë", "last_name": "Berg", "email": "zoë@example.org"},
        headers={**gateway_headers(ALICE), **HTMX},
    )
    assert let_in.status_code == 200, let_in.text
    [call] = [c for c in api.calls if c.method == "POST"]
    assert call.url.path == "/api/v1/events/ev1/walk-ins"
    assert body_of(call) == {"first_name": "Zoë", "last_name": "Berg", "email": "zoë@example.org"}
    assert 'id="person-c4c4c4c4c4c4"' in let_in.text
    assert (
        "Zoë Berg had cancelled their registration: registered again as a walk-in (code "
        "C4C4C4C4) and checked in, over the capacity: the event was full."
    ) in let_in.text
    assert "Cancelled</span>" not in let_in.text
    api.answer(
        "POST",
        "/api/v1/events/ev1/walk-ins",
        409,
        {"title": "Conflict", "status": 409, "type": "event-cancelled", "detail": "was cancelled"},
    )
    refused = await client.post(
        "/console/events/ev1/check-in/c4c4c4c4c4c4/walk-in",
        data={"first_name": "Zoë", "last_name": "Berg", "email": "zoë@example.org"},
        headers={**gateway_headers(ALICE), **HTMX},
    )
    assert refused.status_code == 409
    assert "was cancelled" in refused.text


def test_a_cancelled_registrants_seat_note_counts_their_session() -> None:
    fair = EVENT | {
        "capacity": 10,
        "registered": 4,
        "sessions": [{"id": "am", "places_left": 0}, {"id": "pm", "places_left": 2}],
    }
    assert "takes a seat (6 seats are free)" in readmission_note(fair, {"session_id": None})
    assert "takes a seat (2 seats are free)" in readmission_note(fair, {"session_id": "pm"})
    assert readmission_note(fair, {"session_id": "am"}).startswith("Their session is full: ")
    # Somebody on the waitlist: their check-in seats them, over the capacity when it is full.
    assert waitlist_note(fair, {"session_id": "pm"}) == (
        "On the waitlist: checking them in gives them a seat (2 seats are free)."
    )
    assert waitlist_note(fair, {"session_id": "am"}) == (
        "On the waitlist, and their session is full: checking them in seats them over its capacity."
    )


async def test_the_door_offers_check_in_only_to_who_may_check_people_in(console: Console) -> None:
    client, api = console
    api.answer_pages("/api/v1/events/ev1/registrations", REGISTRATIONS)
    found = await client.get(
        "/console/events/ev1/check-in",
        params={"q": "ada"},
        headers={**gateway_headers(VIC), **HTMX},
    )
    assert "Ada Lovelace" in found.text
    assert "hx-post" not in found.text


def test_a_walk_in_is_trimmed_and_its_outcome_says_whether_they_had_registered() -> None:
    assert walk_in_person({"first_name": " Zoë ", "email": "z@example.org ", "x": "y"}) == {
        "first_name": "Zoë",
        "last_name": "",
        "email": "z@example.org",
    }
    ada = REGISTRATIONS[1]
    assert walk_in_outcome(ada, created=True) == (
        "Ada Lovelace is registered as a walk-in and checked in (code A1B2C3D4)."
    )
    assert walk_in_outcome(ada, created=False) == (
        "Ada Lovelace had registered (code A1B2C3D4) and is now checked in."
    )


async def test_the_door_offers_a_walk_in_form_to_who_may_check_people_in(
    console: Console,
) -> None:
    client, api = console
    in_stockholm = {"time_zone": "Europe/Stockholm", "starts_at_local": "2027-03-25T18:00:00"}
    api.answer("GET", "/api/v1/events/ev1", body=EVENT | in_stockholm)
    api.answer_pages("/api/v1/events/ev1/registrations", REGISTRATIONS)
    door = await client.get("/console/events/ev1/check-in", headers=gateway_headers(ALICE))
    assert door.status_code == 200
    # The start as the door sees it: in the event's zone, and saying which.
    assert "2027-03-25 18:00</time>" in door.text
    assert "Europe/Stockholm" in door.text
    assert 'hx-post="/console/events/ev1/walk-ins"' in door.text
    assert 'id="f-email"' in door.text
    nobody = await client.get(
        "/console/events/ev1/check-in",
        params={"q": "nobody"},
        headers={**gateway_headers(ALICE), **HTMX},
    )
    assert 'href="#f-first_name"' in nobody.text
    viewer = await client.get("/console/events/ev1/check-in", headers=gateway_headers(VIC))
    assert "walk-ins" not in viewer.text
    nobody = await client.get(
        "/console/events/ev1/check-in",
        params={"q": "nobody"},
        headers={**gateway_headers(VIC), **HTMX},
    )
    assert "walk-in" not in nobody.text


async def test_a_walk_in_is_registered_checked_in_and_the_form_emptied(console: Console) -> None:
    client, api = console
    walked = person("d00d00d00d00", "Zoë", "Ångström") | {
        "checked_in_at": "2027-03-25T17:20:00Z",
        "walk_in": True,
    }
    api.answer("POST", "/api/v1/events/ev1/walk-ins", 201, walked)
    answer = await client.post(
        "/console/events/ev1/walk-ins",
        data={"first_name": " Zoë ", "last_name": "Ångström", "email": "zoe@example.org"},
        headers={**gateway_headers(ALICE), **HTMX},
    )
    assert answer.status_code == 201
    assert "<html" not in answer.text
    assert 'id="walk-in"' in answer.text
    assert "Zoë Ångström is registered as a walk-in and checked in (code D00D00D0)." in answer.text
    assert 'role="status"' in answer.text
    assert 'value="Zoë"' not in answer.text  # the form is ready for the next person
    assert "maxlength=100 autofocus" in answer.text
    [call] = [c for c in api.calls if c.method == "POST"]
    assert call.url.path == "/api/v1/events/ev1/walk-ins"
    assert body_of(call) == {
        "first_name": "Zoë",
        "last_name": "Ångström",
        "email": "zoe@example.org",
    }


async def test_a_walk_in_who_had_registered_is_said_to_have_been_checked_in(
    console: Console,
) -> None:
    client, api = console
    api.answer(
        "POST",
        "/api/v1/events/ev1/walk-ins",
        200,
        REGISTRATIONS[1] | {"checked_in_at": "2027-03-25T17:20:00Z"},
    )
    answer = await client.post(
        "/console/events/ev1/walk-ins",
        data={"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.org"},
        headers={**gateway_headers(ALICE), **HTMX},
    )
    assert answer.status_code == 200
    assert "Ada Lovelace had registered (code A1B2C3D4) and is now checked in." in answer.text


async def test_a_walk_in_who_had_cancelled_is_said_to_be_registered_again(
    console: Console,
) -> None:
    client, api = console
    # The events API registers them again at the instant it checks them in (200, as for
    # somebody who had registered).
    again = "2027-03-25T17:20:00.123000Z"
    zoe = person("c4c4c4c4c4c4", "Zoë", "Berg", registered_at=again, checked_in_at=again)
    api.answer("POST", "/api/v1/events/ev1/walk-ins", 200, zoe)
    api.answer("GET", "/api/v1/events/ev1", body=EVENT | {"capacity": 4, "registered": 4})
    form = {"first_name": "Zoë", "last_name": "Berg", "email": "zoe@example.org"}
    answer = await client.post(
        "/console/events/ev1/walk-ins", data=form, headers={**gateway_headers(ALICE), **HTMX}
    )
    assert answer.status_code == 200, answer.text
    assert (
        "Zoë Berg had cancelled their registration: registered again as a walk-in (code "
        "C4C4C4C4) and checked in, taking a free seat."
    ) in answer.text
    assert "had registered (code" not in answer.text
    # Their session was full: they are in over its capacity.
    in_session = zoe | {"session_id": "pm"}
    api.answer("POST", "/api/v1/events/ev1/walk-ins", 200, in_session)
    api.answer(
        "GET",
        "/api/v1/events/ev1",
        body=EVENT
        | {
            "capacity": 10,
            "registered": 5,
            "sessions": [{"id": "pm", "capacity": 2, "registered": 3, "places_left": 0}],
        },
    )
    answer = await client.post(
        "/console/events/ev1/walk-ins", data=form, headers={**gateway_headers(ALICE), **HTMX}
    )
    assert "checked in, over the capacity: their session was full." in answer.text
    # Counts that cannot be read are said so, the check-in still reported.
    api.answer("GET", "/api/v1/events/ev1", 503, {"title": "Unavailable", "status": 503})
    answer = await client.post(
        "/console/events/ev1/walk-ins", data=form, headers={**gateway_headers(ALICE), **HTMX}
    )
    assert "and checked in; whether a seat was free could not be read." in answer.text


def test_only_a_registration_made_again_at_its_check_in_was_readmitted() -> None:
    ada = REGISTRATIONS[1] | {"checked_in_at": "2027-03-25T17:20:00Z"}
    assert not was_readmitted(ada, created=False)
    same = ada | {"registered_at": "2027-03-25T17:20:00+00:00"}
    assert was_readmitted(same, created=False)
    assert not was_readmitted(same, created=True)  # a new walk-in
    assert not was_readmitted(REGISTRATIONS[1], created=False)  # not checked in


async def test_a_walk_in_refused_shows_why_by_the_field_and_keeps_what_was_typed(
    console: Console,
) -> None:
    client, api = console
    api.answer(
        "POST",
        "/api/v1/events/ev1/walk-ins",
        422,
        {
            "title": "Request validation failed",
            "status": 422,
            "detail": "invalid request: email",
            "errors": [{"field": "body.email", "detail": "value is not a valid email address"}],
        },
    )
    answer = await client.post(
        "/console/events/ev1/walk-ins",
        data={"first_name": "Zoë", "last_name": "Ångström", "email": "zoe-at-example"},
        headers={**gateway_headers(ALICE), **HTMX},
    )
    assert answer.status_code == 422
    assert 'id="e-email">Enter an e-mail address (name@example.org).<' in answer.text
    assert 'aria-invalid="true"' in answer.text
    assert 'value="zoe-at-example"' in answer.text
    assert 'value="Zoë"' in answer.text
    assert 'role="alert"' in answer.text

    api.answer(
        "POST",
        "/api/v1/events/ev1/walk-ins",
        409,
        {
            "title": "Conflict",
            "status": 409,
            "detail": "the event 'Backend meetup' was cancelled",
            "type": "event-cancelled",
        },
    )
    cancelled = await client.post(
        "/console/events/ev1/walk-ins",
        data={"first_name": "Zoë", "last_name": "Ångström", "email": "zoe@example.org"},
        headers={**gateway_headers(ALICE), **HTMX},
    )
    assert cancelled.status_code == 409
    assert "the event &#39;Backend meetup&#39; was cancelled" in cancelled.text
    assert 'value="zoe@example.org"' in cancelled.text


async def test_a_scanned_qr_code_opens_the_door_with_the_person_found(console: Console) -> None:
    client, api = console
    api.answer("GET", "/api/v1/events/ev1", body=EVENT)
    api.answer_pages("/api/v1/events/ev1/registrations", REGISTRATIONS)
    door = await client.get(
        "/console/events/ev1/check-in",
        params={"code": "A1B2C3D4"},
        headers=gateway_headers(ALICE),
    )
    assert door.status_code == 200
    assert 'value="A1B2C3D4"' in door.text  # the search, filled in
    assert "Ada Lovelace" in door.text
    assert "Zoë" not in door.text
    assert 'hx-post="/console/events/ev1/check-in/a1b2c3d4e5f6"' in door.text


def test_an_offline_upload_reads_as_counts_and_the_codes_to_look_at() -> None:
    report = {
        "results": [
            {"code": "AAAA2222", "outcome": "checked_in"},
            {"code": "BBBB3333", "outcome": "checked_in"},
            {"code": "CCCC4444", "outcome": "waitlisted"},
            {"code": "ZZZZ9999", "outcome": "unknown_code"},
            {"code": "AAAA2222", "outcome": "already_checked_in"},
        ]
    }
    assert upload_summary(report) == [
        "2 checked in",
        "1 already checked in (unchanged): AAAA2222",
        "1 checked in from the waitlist: CCCC4444",
        "1 unknown code: ZZZZ9999",
    ]


async def test_the_door_uploads_its_offline_queue_and_shows_what_it_did(
    console: Console,
) -> None:
    client, api = console
    api.answer(
        "POST",
        "/api/v1/events/ev1/check-ins",
        body={"results": [{"code": "A1B2C3D4", "outcome": "checked_in"}], "counts": {}},
    )
    batch = {"check_ins": [{"code": "a1b2c3d4", "checked_in_at": "2027-03-25T17:10:00Z"}]}
    uploaded = await client.post(
        "/console/events/ev1/check-ins",
        json=batch,
        headers=gateway_headers(ALICE),
    )
    assert uploaded.status_code == 200
    assert 'data-testid="door-uploaded"' in uploaded.text
    assert "1 checked in" in uploaded.text
    assert json.loads(api.calls[0].content) == batch  # passed on as the door sent it
    api.answer(
        "POST",
        "/api/v1/events/ev1/check-ins",
        409,
        {"title": "Conflict", "status": 409, "detail": "the event was cancelled"},
    )
    refused = await client.post(
        "/console/events/ev1/check-ins", json=batch, headers=gateway_headers(ALICE)
    )
    assert refused.status_code == 409
    assert "the event was cancelled" in refused.text


async def test_an_event_is_offered_completion_only_once_it_has_started(console: Console) -> None:
    client, api = console
    api.answer_pages("/api/v1/events/ev1/registrations", REGISTRATIONS)
    api.answer("GET", "/api/v1/events/ev1", body=EVENT | {"starts_at": "2099-01-01T09:00:00Z"})
    upcoming = await client.get("/console/events/ev1", headers=gateway_headers(ALICE))
    assert "Mark completed" not in upcoming.text
    assert "once it has started" in upcoming.text

    api.answer("GET", "/api/v1/events/ev1", body=EVENT | {"starts_at": "2020-01-01T09:00:00Z"})
    started = await client.get("/console/events/ev1", headers=gateway_headers(ALICE))
    assert "Mark completed" in started.text
    assert "once it has started" not in started.text


LINKED_EVENT: dict[str, object] = {
    "id": "ev1",
    "name": "Backend meetup",
    "kind": "meetup",
    "format": "in_person",
    "status": "published",
    "starts_at": "2031-06-12T16:00:00Z",
    "ends_at": "2031-06-12T19:00:00Z",
    "time_zone": "Europe/Berlin",
    "starts_at_local": "2031-06-12T18:00:00+02:00",
    "ends_at_local": "2031-06-12T21:00:00+02:00",
    "location": "Malmö",
    "join_url": None,
    "cancellation_reason": None,
}
LINKED: dict[str, object] = {
    "id": "c0ffee123456",
    "code": "K7QX2MPA",
    "status": "registered",
    "session_id": None,
    "session_name": None,
    "first_name": "Zoë",
    "last_name": "Ångström",
    "registered_at": "2031-05-01T10:00:00Z",
    "promoted_at": None,
    "cancelled_at": None,
    "checked_in_at": None,
    "event": LINKED_EVENT,
}
TOKEN = "eyJhIjoiYiJ9.c2lnbmF0dXJl"
LINK_API = f"/public/v1/event-registrations/{TOKEN}"
LINK_PAGE = f"/console/public/registrations/{TOKEN}"


async def test_the_registrants_link_opens_a_page_with_the_event_and_a_cancel_button(
    console: Console,
) -> None:
    client, api = console
    api.answer("GET", LINK_API, body=LINKED)
    visitor = {"x-forwarded-for": "203.0.113.9"}
    page = await client.get(LINK_PAGE, headers=visitor)
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert "form-action 'self'" in page.headers["content-security-policy"]
    # The join link, on another site, learns no token.
    assert page.headers["referrer-policy"] == "same-origin"
    assert page.headers["cache-control"] == "no-store"
    assert "<h1>Backend meetup</h1>" in page.text
    assert "2031-06-12 18:00" in page.text  # in the event's zone
    assert 'data-testid="registration-registered"' in page.text
    assert 'data-testid="registration-code">K7QX2MPA<' in page.text
    assert f'href="{LINK_API}/invitation.ics"' in page.text
    # A plain form post (no script, no session): the link itself is the key.
    assert f'<form method="post" action="{LINK_PAGE}/cancel"' in page.text
    assert "Cancel my registration" in page.text
    [read] = api.calls
    assert (read.method, read.url.path) == ("GET", LINK_API)
    assert "cookie" not in read.headers
    assert read.headers["x-forwarded-for"] == "203.0.113.9"

    waiting = LINKED | {"status": "waitlisted"}
    api.answer("GET", LINK_API, body=waiting)
    page = await client.get(LINK_PAGE)
    assert 'data-testid="registration-waitlisted"' in page.text
    assert "invitation.ics" not in page.text
    assert "Cancel my registration" in page.text


async def test_a_cancelled_or_attended_registration_offers_no_cancel_button(
    console: Console,
) -> None:
    client, api = console
    cancelled = LINKED | {"status": "cancelled", "cancelled_at": "2031-06-01T08:30:00Z"}
    api.answer("GET", LINK_API, body=cancelled)
    page = await client.get(LINK_PAGE)
    assert page.status_code == 200
    assert 'data-testid="registration-cancelled"' in page.text
    assert "This registration was cancelled on" in page.text
    assert 'href="/console/public/events/ev1"' in page.text  # to register again
    assert "Cancel my registration" not in page.text
    assert "K7QX2MPA" not in page.text
    attended = LINKED | {"checked_in_at": "2031-06-12T16:10:00Z"}
    api.answer("GET", LINK_API, body=attended)
    page = await client.get(LINK_PAGE)
    assert 'data-testid="registration-attended"' in page.text
    assert "Cancel my registration" not in page.text
    called_off = LINKED | {
        "event": LINKED_EVENT | {"status": "cancelled", "cancellation_reason": "Flood"}
    }
    api.answer("GET", LINK_API, body=called_off)
    page = await client.get(LINK_PAGE)
    assert "This event was cancelled: Flood." in page.text
    assert "Cancel my registration" not in page.text


async def test_the_cancel_form_cancels_through_the_api_and_confirms(console: Console) -> None:
    client, api = console
    api.answer("POST", f"{LINK_API}/cancel", body=LINKED | {"status": "cancelled"})
    api.answer("GET", LINK_API, body=LINKED | {"status": "cancelled"})
    done = await client.post(f"{LINK_PAGE}/cancel")
    assert done.status_code == 200, done.text
    assert "Your registration for Backend meetup is cancelled, Zoë." in done.text
    assert [(c.method, c.url.path) for c in api.calls] == [
        ("POST", f"{LINK_API}/cancel"),
        ("GET", LINK_API),
    ]
    # Used again: the API's 409 is shown on the page, which offers no button any more.
    api.answer(
        "POST",
        f"{LINK_API}/cancel",
        409,
        {
            "title": "Conflict",
            "status": 409,
            "type": "registration-cancelled",
            "detail": "this registration was cancelled already, at 2031-06-01T10:30:00+02:00",
        },
    )
    again = await client.post(f"{LINK_PAGE}/cancel")
    assert again.status_code == 409
    assert "was cancelled already" in again.text
    assert "Cancel my registration" not in again.text


async def test_a_link_that_is_not_one_is_a_404_and_never_a_path(console: Console) -> None:
    client, api = console
    api.answer(
        "GET",
        "/public/v1/event-registrations/forged",
        404,
        {"title": "Not Found", "status": 404, "type": "invalid-link", "detail": "invalid"},
    )
    forged = await client.get("/console/public/registrations/forged")
    assert forged.status_code == 404
    odd = await client.get("/console/public/registrations/..%2E")
    assert odd.status_code == 404
    dotted = await client.post("/console/public/registrations/.x/cancel")
    assert dotted.status_code == 404
    assert [c.url.path for c in api.calls] == ["/public/v1/event-registrations/forged"]


def test_a_registration_may_be_cancelled_only_until_the_event_is_over() -> None:
    before = datetime(2031, 6, 12, 18, 0, tzinfo=UTC)
    after = datetime(2031, 6, 12, 19, 30, tzinfo=UTC)
    assert may_cancel(LINKED, before)
    assert not may_cancel(LINKED, after)
    assert not may_cancel(LINKED | {"event": LINKED_EVENT | {"status": "completed"}}, before)
    assert not may_cancel(LINKED | {"status": "cancelled"}, before)


def test_a_closed_registration_says_when_it_opens_or_closed_in_the_events_zone() -> None:
    now = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    event = {"time_zone": "Europe/Berlin", "registration_opens_at": "2027-01-10T08:00:00Z"}
    assert registration_closed_note(event, now) == (
        "Registration opens on 2027-01-10 at 09:00 (Europe/Berlin)."
    )
    closed = {"time_zone": "Europe/Berlin", "registration_closes_at": "2026-12-01T17:00:00Z"}
    assert registration_closed_note(closed, now) == (
        "Registration closed on 2026-12-01 at 18:00 (Europe/Berlin)."
    )
    # Not open for another reason (a draft, an event past): no date to give.
    assert registration_closed_note({"time_zone": "UTC"}, now) == (
        "Registration is not open at the moment."
    )


async def test_without_script_the_door_checks_in_and_walks_in_on_its_page(
    console: Console,
) -> None:
    """A door without script posts each person's check-in and the walk-in form as forms: the
    answer is the door's page again (never a bare row or form), the person found checked in."""
    client, api = console
    api.answer(
        "GET", "/api/v1/events/ev1", body=EVENT | {"starts_at": datetime.now(UTC).isoformat()}
    )
    ada = REGISTRATIONS[1]
    api.answer_pages("/api/v1/events/ev1/registrations", [ada])
    door = await client.get(
        "/console/events/ev1/check-in", params={"q": "lovelace"}, headers=gateway_headers(ALICE)
    )
    assert re.search(
        r'<form method="post" action="/console/events/ev1/check-in/a1b2c3d4e5f6">\s*'
        r'<input type="hidden" name="q" value="lovelace">\s*<button type="submit"',
        door.text,
    ), door.text
    api.answer(
        "POST",
        "/api/v1/events/ev1/registrations/a1b2c3d4e5f6/check-in",
        body=ada | {"checked_in_at": "2027-03-25T17:10:00Z"},
    )
    checked = await client.post(
        "/console/events/ev1/check-in/a1b2c3d4e5f6",
        data={"q": "lovelace"},
        headers=gateway_headers(ALICE),
    )
    assert checked.status_code == 200
    assert '<main id="main"' in checked.text
    assert 'value="lovelace"' in checked.text  # the search the person was found by
    api.answer(
        "POST",
        "/api/v1/events/ev1/registrations/a1b2c3d4e5f6/check-in",
        409,
        {"title": "Conflict", "status": 409, "type": "event-cancelled", "detail": "was cancelled"},
    )
    refused = await client.post(
        "/console/events/ev1/check-in/a1b2c3d4e5f6",
        data={"q": "lovelace"},
        headers=gateway_headers(ALICE),
    )
    assert refused.status_code == 409
    assert '<main id="main"' in refused.text
    assert '<div class="problem" role="alert"><p>was cancelled</p></div>' in refused.text

    walked = person("d00d00d00d00", "Søren", "Ørsted-Nuñez") | {
        "checked_in_at": "2027-03-25T17:20:00Z",
        "walk_in": True,
    }
    api.answer("POST", "/api/v1/events/ev1/walk-ins", 201, walked)
    added = await client.post(
        "/console/events/ev1/walk-ins",
        data={"first_name": "Søren", "last_name": "Ørsted-Nuñez", "email": "soren@example.dk"},
        headers=gateway_headers(ALICE),
    )
    assert added.status_code == 201
    assert '<main id="main"' in added.text
    assert "Søren Ørsted-Nuñez is registered as a walk-in and checked in" in added.text
    assert 'value="soren@example.dk"' in added.text  # the door searches for them

    api.answer(
        "POST",
        "/api/v1/events/ev1/walk-ins",
        422,
        {
            "type": "validation-error",
            "title": "Request validation failed",
            "status": 422,
            "detail": "not valid",
            "errors": [{"field": "body.email", "detail": "value is not a valid email address"}],
        },
    )
    refused = await client.post(
        "/console/events/ev1/walk-ins",
        data={"first_name": "Søren", "last_name": "", "email": "soren@"},
        headers=gateway_headers(ALICE),
    )
    assert refused.status_code == 422
    assert '<main id="main"' in refused.text
    assert 'value="soren@"' in refused.text  # kept in the walk-in form, the error at it
    assert "Enter an e-mail address" in refused.text.split('id="walk-in"', 1)[1]


async def test_without_script_the_door_asks_first_on_another_day(console: Console) -> None:
    """With script the button asks in the browser (`hx-confirm`); without, the console answers
    the question as a page whose form posts the same fields again, confirmed."""
    client, api = console
    early = EVENT | {"starts_at": "2099-12-20T17:00:00Z", "time_zone": "Europe/Zurich"}
    api.answer("GET", "/api/v1/events/ev1", body=early)
    form = {"first_name": "Søren", "last_name": "Ørsted", "email": "soren@example.dk"}
    asked = await client.post(
        "/console/events/ev1/walk-ins", data=form, headers=gateway_headers(ALICE)
    )
    assert asked.status_code == 200
    assert not [c for c in api.calls if c.method == "POST"]
    assert (
        "The event's day is 2099-12-20: a check-in now counts as attendance."
        in asked.text.replace("&#39;", "'")
    )
    action = '<form method="post" action="/console/events/ev1/walk-ins" class="actions">'
    assert action in asked.text
    assert '<input type="hidden" name="email" value="soren@example.dk">' in asked.text
    assert '<input type="hidden" name="confirmed" value="1">' in asked.text
    assert "Check Søren Ørsted in all the same</button>" in asked.text

    walked = person("d00d00d00d00", "Søren", "Ørsted") | {"checked_in_at": "2099-12-01T17:20:00Z"}
    api.answer("POST", "/api/v1/events/ev1/walk-ins", 201, walked)
    api.answer_pages("/api/v1/events/ev1/registrations", [walked])
    confirmed = await client.post(
        "/console/events/ev1/walk-ins",
        data={**form, "confirmed": "1"},
        headers=gateway_headers(ALICE),
    )
    assert confirmed.status_code == 201
    assert [c.url.path for c in api.calls if c.method == "POST"] == ["/api/v1/events/ev1/walk-ins"]
    # htmx asked in the browser already: its post is not asked again.
    api.answer(
        "POST",
        "/api/v1/events/ev1/registrations/a1b2c3d4e5f6/check-in",
        body=REGISTRATIONS[1] | {"checked_in_at": "2099-12-01T17:10:00Z"},
    )
    again = await client.post(
        "/console/events/ev1/check-in/a1b2c3d4e5f6", headers={**gateway_headers(ALICE), **HTMX}
    )
    assert again.status_code == 200
    assert "all the same</button>" not in again.text
