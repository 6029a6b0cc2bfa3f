"""The weekly report end to end: an admin chooses the recipients (one of them suppressed) and
the hour in Berlin; a week's activity published on the real broker is folded by analytics; the
report is made due (its stored due time set to a past Monday 08:00 in Berlin) and the job,
polling every half second, compiles that week, publishes `report.compiled` once, and campaigns
mails each recipient through the SMTP sink with the week's figures; the report and the mails'
outcomes are listed; a redelivery of the event and a second compilation of the week mail
nobody again."""

from __future__ import annotations

import csv
import email
import email.policy
import io
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any
from uuid import uuid4
from zoneinfo import ZoneInfo

import pytest
from conftest import SmtpSink
from pymongo import AsyncMongoClient

from crm_shared import (
    ATS_APPLICATION_CREATED,
    ATS_APPLICATION_HIRED,
    CANDIDATE_CREATED,
    ENROLMENT_ENDED,
    ENROLMENT_STARTED,
    EVENT_REGISTERED,
    MESSAGE_CLICKED,
    MESSAGE_OPENED,
    MESSAGE_SENT,
    REPORT_COMPILED,
    AtsApplicationCreated,
    AtsApplicationHired,
    CandidateCreated,
    EnrolmentEnded,
    EnrolmentStarted,
    EventEnvelope,
    EventRegistered,
    MessageClicked,
    MessageOpened,
    MessageSent,
    TopicSpec,
)
from helpers import eventually, unique
from integration.flow.conftest import ACME_ADMIN_TOKEN, ACME_TOKEN, Stack
from integration.flow.test_message_reports import publish_all

pytestmark = pytest.mark.integration

BERLIN = ZoneInfo("Europe/Berlin")
# The reported week: Monday 16 to Sunday 22 November 2026 in Berlin; the report is due on
# Monday 23 November at 08:00 there (07:00 UTC). The week before: 9 to 15 November.
WEEK_START = datetime(2026, 11, 16, tzinfo=BERLIN)
DUE = datetime(2026, 11, 23, 8, tzinfo=BERLIN).astimezone(UTC)


def body_of(raw: bytes, subtype: str) -> str:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    part = message.get_body((subtype,))
    assert part is not None
    return str(part.get_content())


def workload(tenant_id: str, run: str) -> list[EventEnvelope[Any]]:
    """This week: 3 new candidates (2 referral, 1 sourced), 2 mails sent, 1 opened and
    clicked by a person, 1 registration, 1 application, 1 hire, 2 sequence enrolments begun, 1
    run through and 1 ended early; the week before: 1 new candidate (sourced), 1 mail sent, 1
    enrolment begun. One candidate at Sunday 23:30 in Berlin (22:30 UTC,
    still the week), one at Monday 00:30 after it (the next week: not counted)."""
    events: list[EventEnvelope[Any]] = []

    def add(spec: TopicSpec, subject: str, data: Any, at: datetime) -> None:
        events.append(
            EventEnvelope[Any](
                type=spec.name,
                source="test",
                tenant_id=tenant_id,
                subject=subject,
                schema_version=spec.schema_version,
                time=at,
                data=data,
            )
        )

    def created(n: int, source: str, at: datetime) -> str:
        cid = f"{run}-c{n}"
        profile = CandidateCreated(
            candidate_id=cid,
            first_name="W",
            last_name=f"R{n}",
            emails=[f"{run}-c{n}@example.org"],
            source=source,
        )
        add(CANDIDATE_CREATED, cid, profile, at)
        return cid

    week = WEEK_START
    c1 = created(1, "referral", week + timedelta(days=1, hours=9))
    created(2, "referral", week + timedelta(days=2, hours=10))
    created(3, "sourced", datetime(2026, 11, 22, 23, 30, tzinfo=BERLIN))
    created(4, "sourced", week - timedelta(days=3))  # the week before
    created(5, "sourced", datetime(2026, 11, 23, 0, 30, tzinfo=BERLIN))  # the week after
    for n, at in ((1, week + timedelta(days=3)), (2, week + timedelta(days=3, hours=1))):
        ref = {"message_id": f"{run}-m{n}", "candidate_id": c1}
        add(MESSAGE_SENT, c1, MessageSent(**ref, template_id="t", subject="Hi"), at)
    ref = {"message_id": f"{run}-m1", "candidate_id": c1}
    opened_at = week + timedelta(days=3, hours=2)
    add(MESSAGE_OPENED, c1, MessageOpened(**ref), opened_at)
    add(MESSAGE_OPENED, c1, MessageOpened(**ref, automated=True), opened_at)
    click = MessageClicked(**ref, link_index=0, url="https://x.test")
    add(MESSAGE_CLICKED, c1, click, opened_at + timedelta(minutes=1))
    earlier = {"message_id": f"{run}-m0", "candidate_id": c1}
    add(
        MESSAGE_SENT,
        c1,
        MessageSent(**earlier, template_id="t", subject="Hi"),
        week - timedelta(days=2),
    )
    registered_at = week + timedelta(days=4)
    registration = EventRegistered(
        event_id=f"{run}-ev",
        event_name="Open day",
        registration_id=f"{run}-r1",
        candidate_id=c1,
        email=f"{run}-c1@example.org",
        first_name="W",
        last_name="R1",
        registered_at=registered_at,
    )
    add(EVENT_REGISTERED, c1, registration, registered_at)
    application = {
        "provider": "greenhouse",
        "connection_id": "conn",
        "ats_application_id": f"{run}-app1",
        "ats_candidate_id": "ats-1",
        "candidate_id": c1,
        "email": f"{run}-c1@example.org",
    }
    applied_at = week + timedelta(days=5)
    add(
        ATS_APPLICATION_CREATED,
        c1,
        AtsApplicationCreated(**application, applied_at=applied_at),
        applied_at,
    )
    hired_at = week + timedelta(days=6)
    add(
        ATS_APPLICATION_HIRED,
        c1,
        AtsApplicationHired(**application, occurred_at=hired_at),
        hired_at,
    )
    # A sequence: one enrolment begun the week before and ended early in the week (a reply),
    # one begun in the week and run through in it, one begun in the week and still running.
    for n, enrolled_at, end in (
        (1, week - timedelta(days=4), ("exited", week + timedelta(days=1))),
        (2, week + timedelta(hours=10), ("completed", week + timedelta(days=5))),
        (3, week + timedelta(days=2), None),
    ):
        enrolment = {
            "enrolment_id": f"{run}-en{n}",
            "sequence_id": f"{run}-seq",
            "sequence_name": "Nurture",
            "candidate_id": c1,
            "entry": n,
            "enrolled_at": enrolled_at,
        }
        add(ENROLMENT_STARTED, c1, EnrolmentStarted(**enrolment), enrolled_at)
        if end is not None:
            outcome, ended_at = end
            reason = "replied" if outcome == "exited" else None
            ended = EnrolmentEnded(
                **enrolment, outcome=outcome, exit_reason=reason, ended_at=ended_at
            )
            add(ENROLMENT_ENDED, c1, ended, ended_at)
    return events


async def test_the_weekly_report_is_compiled_once_and_mailed_to_each_recipient_once(
    stack: Stack,
    kafka_bootstrap_servers: str,
    smtp_sink: SmtpSink,
    mongo: AsyncMongoClient[dict[str, Any]],
) -> None:
    acme, admin = stack.as_(ACME_TOKEN), stack.as_(ACME_ADMIN_TOKEN)
    run = unique("wr")
    ana, bo, gone = f"{run}-ana@staff.test", f"{run}-bo@staff.test", f"{run}-gone@staff.test"
    settings_url = "/api/v1/analytics/settings/weekly-report"

    # The settings: an admin's; addresses validated and de-duplicated in any case.
    schedule = {"recipients": [ana, bo.upper(), bo, gone], "weekday": 1, "hour": 8}
    refused = await stack.gateway.put(settings_url, json=schedule, headers=acme)
    assert refused.status_code == 403, refused.text
    bad = await stack.gateway.put(settings_url, json={"recipients": ["nobody"]}, headers=admin)
    assert bad.status_code == 422, bad.text
    assert "recipients" in bad.text
    zone = await stack.gateway.put(
        "/api/v1/analytics/settings", json={"time_zone": "Europe/Berlin"}, headers=admin
    )
    assert zone.status_code == 200, zone.text
    saved = await stack.gateway.put(settings_url, json=schedule, headers=admin)
    assert saved.status_code == 200, saved.text
    assert saved.json()["recipients"] == [ana, bo, gone]
    assert saved.json()["time_zone"] == "Europe/Berlin"
    next_at = datetime.fromisoformat(saved.json()["next_report_at"])
    assert next_at.astimezone(BERLIN).isoweekday() == 1
    assert next_at.astimezone(BERLIN).hour == 8
    # A suppressed address is not mailed (staff reports need no consent, but no bounce).
    suppressed = await stack.gateway.post(
        "/api/v1/suppressions", json={"email": gone}, headers=admin
    )
    assert suppressed.status_code == 201, suppressed.text

    await publish_all(kafka_bootstrap_servers, workload(stack.acme, run))

    async def folded() -> bool:
        funnel = await stack.gateway.get(
            "/api/v1/analytics/funnel",
            params={"from": "2026-11-16", "to": "2026-11-22"},
            headers=acme,
        )
        hires = await stack.gateway.get(
            "/api/v1/analytics/attribution",
            params={"from": "2026-11-16", "to": "2026-11-22", "outcome": "hire"},
            headers=acme,
        )
        if funnel.status_code != 200 or hires.status_code != 200:
            # A busy gateway's 429 is waited out; anything else fails at once.
            assert {funnel.status_code, hires.status_code} <= {200, 429}, (funnel.text, hires.text)
            return False
        analytics = mongo[stack.analytics_settings.database_name]
        messages = await analytics["message_index"].count_documents(
            {
                "tenant_id": stack.acme,
                "message_id": {"$regex": f"^{run}-m"},
                "sent_at": {"$ne": None},
            }
        )
        clicked = await analytics["message_index"].count_documents(
            {"tenant_id": stack.acme, "message_id": f"{run}-m1", "clicked_at": {"$ne": None}}
        )
        registrants = await analytics["event_registrants"].count_documents(
            {"tenant_id": stack.acme, "event_id": f"{run}-ev"}
        )
        enrolments = (
            await analytics["enrolment_index"]
            .find({"tenant_id": stack.acme, "sequence_id": f"{run}-seq"})
            .to_list()
        )
        return (
            len(enrolments) == 3
            and sum(bool(e.get("outcome")) for e in enrolments) == 2
            and funnel.json()["cohort"] == 3
            and hires.json()["outcomes"] == 1
            and messages == 3
            and clicked == 1
            and registrants == 1
        )

    await eventually(folded, timeout=60, interval=0.5, message="analytics did not fold the week")

    # Make the report due: its stored due time is the past Monday 08:00 in Berlin.
    analytics = mongo[stack.analytics_settings.database_name]
    await analytics["analytics_settings"].update_one(
        {"tenant_id": stack.acme}, {"$set": {"next_report_at": DUE, "report_due_at": DUE}}
    )

    async def mailed() -> bool:
        return bool(smtp_sink.messages_to(ana)) and bool(smtp_sink.messages_to(bo))

    await eventually(mailed, timeout=60, message="the weekly report was not mailed")
    [to_ana], [to_bo] = smtp_sink.messages_to(ana), smtp_sink.messages_to(bo)
    assert to_ana.subject == "Weekly recruiting report 2026-W47: 16 Nov 2026 to 22 Nov 2026"
    text = body_of(to_ana.raw(), "plain")
    for line in (
        "New candidates: 3 (+2, +200.0%)",
        "from referral: 2 (+2)",
        "from sourced: 1 (+0, +0.0%)",
        "Messages sent: 2 (+1, +100.0%)",
        "Messages opened (by a person): 1 (+1)",
        "Messages clicked (by a person): 1 (+1)",
        "Event registrations: 1 (+1)",
        "Applications: 1 (+1)",
        "Hires: 1 (+1)",
        "Sequence enrolments started: 2 (+1, +100.0%)",
        "Sequence enrolments run through: 1 (+1)",
        "Sequence enrolments ended early: 1 (+1)",
        "sourced: 3 [+2, +200.0%]",
        "hired: 1 (",
    ):
        assert line in text, (line, text)
    assert "<td>New candidates</td><td>3</td>" in body_of(to_bo.raw(), "html")
    assert not smtp_sink.messages_to(gone)

    # The report listed, newest first, with its figures; the schedule moved on.
    reports = await stack.gateway.get("/api/v1/analytics/weekly-reports", headers=acme)
    assert reports.status_code == 200, reports.text
    [report] = reports.json()["items"]
    assert reports.json()["next_cursor"] is None
    report_id = f"{stack.acme}:2026-W47"
    assert report["report_id"] == report_id
    assert report["first_day"] == "2026-11-16"
    assert report["figures"]["new_candidates"] == 3
    assert report["figures"]["by_source"] == {"referral": 2, "sourced": 1}
    assert report["previous"]["new_candidates"] == 1
    assert report["change"]["messages_sent"] == 1
    assert report["funnel"][0] == {
        "step": "sourced",
        "count": 3,
        "previous": 1,
        "conversion_from_previous": None,
    }
    # The same report by its week, and as a CSV file; a week not compiled is a 404.
    one = await stack.gateway.get("/api/v1/analytics/weekly-reports/2026-W47", headers=acme)
    assert one.status_code == 200, one.text
    assert one.json() == report
    as_csv = await stack.gateway.get(
        "/api/v1/analytics/weekly-reports/2026-W47", params={"format": "csv"}, headers=acme
    )
    assert as_csv.status_code == 200, as_csv.text
    assert 'filename="weekly-report-2026-W47.csv"' in as_csv.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(as_csv.text.removeprefix("\ufeff"))))
    assert rows[1] == ["figure", "new_candidates", "3", "1", "2"]
    assert ["figure", "enrolments_started", "2", "1", "1"] in rows
    assert ["source", "referral", "2", "0", "2"] in rows
    assert ["source", "sourced", "1", "1", "0"] in rows
    assert ["funnel", "sourced", "3", "1", "2"] in rows
    # For Excel where the decimal mark is a comma: `;` between cells.
    european = await stack.gateway.get(
        "/api/v1/analytics/weekly-reports/2026-W47",
        params={"format": "csv", "separator": "semicolon"},
        headers=acme,
    )
    assert european.status_code == 200, european.text
    assert european.text.removeprefix("\ufeff").splitlines()[1] == "figure;new_candidates;3;1;2"
    unknown = await stack.gateway.get(
        "/api/v1/analytics/weekly-reports/2026-W47",
        params={"format": "csv", "separator": "tab"},
        headers=acme,
    )
    assert unknown.status_code == 422, unknown.text
    for missing in ("2026-W46", "2026-W99", "last-week"):
        absent = await stack.gateway.get(
            f"/api/v1/analytics/weekly-reports/{missing}", headers=acme
        )
        assert absent.status_code == 404, (missing, absent.text)
        assert absent.headers["content-type"] == "application/problem+json"
    after = (await stack.gateway.get(settings_url, headers=acme)).json()
    assert after["last_report_id"] == report_id
    assert after["last_report_error"] is None
    assert datetime.fromisoformat(after["next_report_at"]) > datetime.now(UTC)

    # The mails' outcomes, for whoever reads analytics.
    async def outcomes() -> dict[str, str]:
        listed = await stack.gateway.get(
            "/api/v1/report-mails", params={"report_id": report_id}, headers=acme
        )
        assert listed.status_code == 200, listed.text
        return {m["recipient"]: m["status"] for m in listed.json()["items"]}

    assert await outcomes() == {ana: "sent", bo: "sent", gone: "suppressed"}

    # A redelivery under a new envelope id, and a second compilation of the same week.
    [record] = (
        await analytics["outbox"]
        .find({"tenant_id": stack.acme, "topic": REPORT_COMPILED.name})
        .to_list()
    )
    again = (
        EventEnvelope[Any].model_validate_json(record["value"]).model_copy(update={"id": uuid4()})
    )
    await analytics["analytics_settings"].update_one(
        {"tenant_id": stack.acme}, {"$set": {"next_report_at": DUE, "report_due_at": DUE}}
    )

    async def compiled_again() -> bool:
        found = await analytics["analytics_settings"].find_one({"tenant_id": stack.acme})
        return bool(found and found["next_report_at"] > DUE)

    await eventually(compiled_again, timeout=30, message="the job did not run again")
    # A marker report on the same key (partition) after the redelivery: once it is mailed,
    # the redelivery was handled before it.
    marker_to = f"{run}-marker@staff.test"
    marker = again.model_copy(
        update={
            "id": uuid4(),
            "data": {**again.data, "report_id": f"{report_id}-marker", "recipients": [marker_to]},
        }
    )
    await publish_all(kafka_bootstrap_servers, [again, marker])
    await eventually(
        lambda: _has_mail(smtp_sink, marker_to), timeout=60, message="marker not mailed"
    )
    assert len(smtp_sink.messages_to(ana)) == 1
    assert len(smtp_sink.messages_to(bo)) == 1
    assert (
        await analytics["outbox"].count_documents(
            {"tenant_id": stack.acme, "topic": REPORT_COMPILED.name}
        )
        == 1
    )
    listed = await stack.gateway.get("/api/v1/analytics/weekly-reports", headers=acme)
    assert len(listed.json()["items"]) == 1
    attempts = await stack.gateway.get(
        "/api/v1/report-mails", params={"report_id": report_id}, headers=acme
    )
    assert {m["recipient"]: m["attempts"] for m in attempts.json()["items"]} == {
        ana: 1,
        bo: 1,
        gone: 1,
    }


async def _has_mail(sink: SmtpSink, address: str) -> bool:
    return bool(sink.messages_to(address))
