"""The broadcast composer's rules: a broadcast read from its form, and what its status allows
and shows while it runs."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from crm_console.domain.forms import FormValues, first, whole_number
from crm_console.domain.problems import field_label
from crm_console.domain.questions import Question

AUDIENCE_KINDS = {"segment": "A segment", "pool": "A talent pool", "stored_list": "A list"}
SCHEDULE_KINDS = {
    "now": "Now",
    "at": "At a time (UTC)",
    "local_time": "At a time in each candidate's own time zone",
}
AB_METRICS = {"open_rate": "Open rate", "click_rate": "Click rate"}
# A/B variant rows the composer offers (the API takes 2 to 5).
AB_VARIANT_ROWS = 3
STATUS_LABELS = {
    "draft": "Draft",
    "preparing": "Preparing",
    "sending": "Sending",
    "paused": "Paused",
    "completed": "Completed",
    "cancelled": "Cancelled",
}
# Statuses in which the progress still changes: the page keeps asking.
LIVE_STATUSES = frozenset({"preparing", "sending", "paused"})
# Analytics counts the mail from the topics, a moment after campaigns sent it: a broadcast that
# finished within one poll still has mail to be counted. Its report panel keeps asking until
# every mail sent is counted, for this long after the end at most (mail sent before analytics
# kept reports, or whose events the topics no longer hold, would never be).
REPORT_CATCH_UP = timedelta(minutes=10)
ACTIONS = {
    "draft": ("send",),
    "preparing": ("pause", "cancel"),
    "sending": ("pause", "cancel"),
    "paused": ("resume", "cancel"),
}
REASON_LABELS = {
    "render_failed": "The template cannot be rendered for the candidate",
    "delivery_failed": "The mail server refused it",
    "outcome_unknown": "Stopped during sending; may have been delivered",
    "no_marketing_consent": "No marketing consent",
    "no_email_address": "No e-mail address",
    "unsubscribed": "Unsubscribed",
    "bounced": "The address bounced before",
    "complained": "Reported an earlier mail as spam",
    "erased": "Erased (GDPR)",
    "manual": "Address suppressed by hand",
    "frequency_cap": "Contact policy: too many mails lately",
    "archived": "Candidate archived",
    "unknown_candidate": "Not known to campaigns yet",
}


def broadcast_from_form(form: FormValues) -> dict[str, Any]:
    """The API's broadcast (create body) the composer describes."""
    kind = first(form, "audience_type", "segment")
    audience: dict[str, Any] = {"type": kind}
    if kind == "segment":
        audience["segment_id"] = first(form, "segment_id")
    elif kind == "pool":
        audience["pool_id"] = first(form, "pool_id")
        stage = first(form, "pool_stage")
        if stage:
            audience["stage"] = stage
    elif kind == "stored_list":
        audience["list_id"] = first(form, "list_id")
    when = first(form, "schedule_type", "now")
    schedule: dict[str, Any] = {"type": when}
    if when == "at":
        at = first(form, "send_at")
        # `datetime-local` has no zone: the composer says the time is UTC.
        schedule["send_at"] = f"{at}:00+00:00" if len(at) == 16 else at
    elif when == "local_time":
        schedule["date"] = first(form, "local_date")
        schedule["local_time"] = first(form, "local_time")
    body: dict[str, Any] = {
        "name": first(form, "name"),
        "template_id": first(form, "template_id"),
        "audience": audience,
        "schedule": schedule,
    }
    subjects = [
        (first(form, f"variant_{i}_name") or chr(ord("A") + i), first(form, f"variant_{i}_subject"))
        for i in range(AB_VARIANT_ROWS)
    ]
    variants = [{"name": name, "subject": subject} for name, subject in subjects if subject]
    if variants:
        body["ab_test"] = {
            "variants": variants,
            "test_percentage": whole_number(first(form, "ab_percentage")) or 20,
            "metric": first(form, "ab_metric", "open_rate"),
            "decide_after_minutes": whole_number(first(form, "ab_minutes")) or 60,
        }
    return body


# The composer's fields by the API's path of what they fill, as their labels read, so the error
# list above the form names what the user sees (the API's `ab_test.variants` is the subjects).
COMPOSER_LABELS = {
    "name": "Name",
    "template_id": "Template",
    "audience": "Audience",
    "audience.segment_id": "Segment",
    "audience.pool_id": "Talent pool",
    "audience.stage": "Only the stage",
    "audience.list_id": "List",
    "schedule": "Schedule",
    "schedule.send_at": "Date and time (UTC)",
    "schedule.date": "Date",
    "schedule.local_time": "Time in each candidate's own time zone",
    "ab_test": "A/B subject test",
    "ab_test.variants": "A/B subjects",
    "ab_test.test_percentage": "Test on % of the audience",
    "ab_test.metric": "Winner by",
    "ab_test.decide_after_minutes": "Decide after minutes",
}


def composer_field(path: str) -> str:
    """The composer's key of the field the API refused at `path`: the API's audience and
    schedule are unions told apart by `type`, and its paths name the kind
    (`audience.segment.segment_id`), which the form, showing one kind's fields, does not."""
    parts = path.split(".")
    kinds = {"audience": AUDIENCE_KINDS, "schedule": SCHEDULE_KINDS}.get(parts[0], {})
    if len(parts) >= 3 and parts[1] in kinds:
        del parts[1]
    return ".".join(parts)


def composer_label(path: str) -> str:
    """The composer's label of the field the API refused at `path` (`ab_test.variants.1.subject`
    is "Variant 2 subject", as the form numbers its rows)."""
    parts = path.split(".")
    if len(parts) == 4 and parts[:2] == ["ab_test", "variants"] and parts[2].isdigit():
        return f"Variant {int(parts[2]) + 1} {parts[3].replace('_', ' ')}"
    return COMPOSER_LABELS.get(path) or field_label(path)


def is_live(status: str) -> bool:
    """Whether the broadcast's progress can still change (the view polls while it can)."""
    return status in LIVE_STATUSES


def report_may_change(broadcast: Mapping[str, Any], reported_sent: int, now: datetime) -> bool:
    """Whether the broadcast's message report can still change: while it sends, and after it
    ended until analytics has counted every mail it sent (`reported_sent`), within
    `REPORT_CATCH_UP` of the end."""
    if is_live(str(broadcast["status"])):
        return True
    if reported_sent >= int(broadcast["progress"].get("sent") or 0):
        return False
    ended = broadcast.get("completed_at")
    if not ended:
        return False
    return now - datetime.fromisoformat(str(ended)) < REPORT_CATCH_UP


def actions(status: str) -> tuple[str, ...]:
    """The buttons a broadcast in `status` shows."""
    return ACTIONS.get(status, ())


def reasons(counts: Mapping[str, int]) -> list[tuple[str, str, int]]:
    """Counts by reason, most first: `(reason, what it means, count)`."""
    return [
        (reason, REASON_LABELS.get(reason, reason.replace("_", " ")), count)
        for reason, count in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        if count
    ]


def ab_outcome(ab_test: Mapping[str, Any]) -> str:
    """What the A/B caption says of a decided test: the winner, or that the groups tied (equal
    open and click rates, as with no opens at all), in which case the first variant went to
    the rest of the audience (docs/campaigns.md)."""
    winner = str(ab_test.get("winner") or "")
    results = ab_test.get("results") or []
    rates = {(r.get("open_rate"), r.get("click_rate")) for r in results}
    if len(results) > 1 and len(rates) == 1:
        return f"a tie (the same open and click rates), so {winner}, the first, went to the rest"
    return f"{winner} won"


def rate_cell(count: int, rate: float | None, delivered: int) -> str:
    """A test group's count and its rate of the delivered mail: `3 (50 %)`; the count alone
    while nothing was delivered (no rate to speak of)."""
    if not delivered or rate is None:
        return str(count)
    return f"{count} ({rate * 100:.0f} %)"


def done_share(progress: Mapping[str, Any]) -> int:
    """How much of the audience has an outcome (sent, failed, skipped, or not sent as the
    broadcast was cancelled), in percent."""
    size = int(progress.get("audience_size") or 0)
    if size <= 0:
        return 0
    done = sum(int(progress.get(key) or 0) for key in ("sent", "failed", "skipped", "cancelled"))
    return min(100, round(100 * done / size))


def describe_audience(audience: Mapping[str, Any], names: Mapping[str, str] | None = None) -> str:
    names = names or {}
    kind = audience.get("type")
    if kind == "segment":
        return f"Segment {names.get(str(audience.get('segment_id')), audience.get('segment_id'))}"
    if kind == "pool":
        pool = names.get(str(audience.get("pool_id")), str(audience.get("pool_id")))
        stage = audience.get("stage")
        return f"Pool {pool}" + (f", stage {stage}" if stage else "")
    if kind == "stored_list":
        return f"List {names.get(str(audience.get('list_id')), audience.get('list_id'))}"
    if kind == "list":
        return f"{len(audience.get('candidate_ids', []))} candidates"
    return str(kind)


def describe_schedule(schedule: Mapping[str, Any]) -> str:
    kind = schedule.get("type")
    if kind == "at":
        return f"At {str(schedule.get('send_at'))[:16].replace('T', ' ')} UTC"
    if kind == "local_time":
        when = f"{schedule.get('date')} at {str(schedule.get('local_time'))[:5]}"
        return f"On {when} in each candidate's time zone"
    return "Now"


def delete_question(broadcast: Mapping[str, Any]) -> Question:
    """What a draft's delete button asks first, naming the draft."""
    return Question(f"Delete the draft “{broadcast.get('name') or ''}”?", "Delete draft")
