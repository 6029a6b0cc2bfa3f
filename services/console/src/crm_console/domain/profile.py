"""What a candidate's profile page shows, from what the API answered: custom fields under their
labels, pool placements under their pools' names, one readable line per timeline entry, and
the typed confirmation that guards an erasure. Pure functions, tested without a browser."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

# What a page shows for a value that is not there (an en dash, as the templates do).
NOTHING = "\u2013"


@dataclass(frozen=True)
class LabelledValue:
    key: str
    label: str
    value: str
    # A list's items (several of a list), shown one an item: a choice may hold a comma.
    items: tuple[str, ...] = ()


@dataclass(frozen=True)
class Placement:
    pool_id: str
    pool_name: str
    stage: str


def display_value(value: Any) -> str:
    """A stored value as a person reads it: lists joined, yes/no, a dash for nothing."""
    if value is None or value == "" or value == []:
        return NOTHING
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, list):
        return ", ".join(display_value(item) for item in value)
    return str(value)


def labelled_custom_fields(
    values: Mapping[str, Any], definitions: Sequence[Mapping[str, Any]]
) -> list[LabelledValue]:
    """The candidate's custom fields in the tenant's definition order, each under its label; a
    value whose definition is unknown (deleted, or definitions unreadable) keeps its key."""
    labels = {str(d["key"]): str(d.get("label") or d["key"]) for d in definitions}
    order = {key: index for index, key in enumerate(labels)}
    keys = sorted(values, key=lambda key: (order.get(key, len(order)), key))
    return [
        LabelledValue(
            key,
            labels.get(key, key),
            display_value(values[key]),
            tuple(display_value(item) for item in values[key])
            if isinstance(values[key], list)
            else (),
        )
        for key in keys
    ]


@dataclass(frozen=True)
class JobShown:
    """An ATS application's or link's job as the profile says it: its name where the ATS or the
    job list gives one, else "Job <id>"; `ref` is the ATS's id, shown muted beside a name."""

    text: str
    ref: str = ""


def _job_key(entry: Mapping[str, Any]) -> tuple[str, str] | None:
    job_id = entry.get("ats_job_id")
    return (str(entry.get("connection_id") or ""), str(job_id)) if job_id else None


def job_names(*sources: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str], str]:
    """The job names known by (connection, ATS job id): from `GET /ats/jobs` entries (`name`)
    and from applications that carry their job's name (`job_name`)."""
    names: dict[tuple[str, str], str] = {}
    for entries in sources:
        for entry in entries:
            key = _job_key(entry)
            name = entry.get("job_name") or entry.get("name")
            if key is not None and name:
                names.setdefault(key, str(name))
    return names


def unnamed_jobs(
    entries: Sequence[Mapping[str, Any]], names: Mapping[tuple[str, str], str]
) -> bool:
    """Whether an entry names a job by id only (no name of its own, none known)."""
    return any(
        (key := _job_key(entry)) is not None and not entry.get("job_name") and key not in names
        for entry in entries
    )


def shown_job(entry: Mapping[str, Any], names: Mapping[tuple[str, str], str]) -> JobShown:
    """What the Job cell of an application (or of a link to the ATS) says."""
    key = _job_key(entry)
    name = entry.get("job_name") or (names.get(key) if key else None)
    if key is not None:
        return JobShown(str(name), f"job {key[1]}") if name else JobShown(f"Job {key[1]}")
    if name:
        return JobShown(str(name))
    if entry.get("prospect"):
        return JobShown("No job: a prospect")
    return JobShown("Job not named by the ATS")


def placements(
    pools_of_candidate: Sequence[Mapping[str, Any]], pools: Sequence[Mapping[str, Any]]
) -> list[Placement]:
    """The candidate's pool placements with each pool's name (its id if the pool is unknown)."""
    names = {str(pool["id"]): str(pool["name"]) for pool in pools}
    return [
        Placement(
            str(p["pool_id"]), names.get(str(p["pool_id"]), str(p["pool_id"])), str(p["stage"])
        )
        for p in pools_of_candidate
    ]


def pools_to_add_to(
    pools: Sequence[Mapping[str, Any]], placed: Sequence[Placement]
) -> list[Mapping[str, Any]]:
    """The pools "Add to pool" offers: those the candidate is not in (adding them to one they
    are in would only answer "a member already"; a move of stage is the board's)."""
    member_of = {placement.pool_id for placement in placed}
    return [pool for pool in pools if str(pool["id"]) not in member_of]


def _text(data: Mapping[str, Any], key: str, default: str = "") -> str:
    value = data.get(key)
    return str(value) if value not in (None, "") else default


def _message(verb: str) -> Callable[[Mapping[str, Any]], str]:
    def summary(data: Mapping[str, Any]) -> str:
        subject = _text(data, "subject")
        return f"{verb} “{subject}”" if subject else f"{verb} a mail"

    return summary


def _clicked(data: Mapping[str, Any]) -> str:
    url = _text(data, "url")
    return f"Clicked {url}" if url else "Clicked a link"


def _bounced(data: Mapping[str, Any]) -> str:
    kind = _text(data, "bounce_type", "a")
    reason = _text(data, "reason")
    return f"A mail bounced ({kind})" + (f": {reason}" if reason else "")


def _pool_stage(data: Mapping[str, Any]) -> str:
    pool = _text(data, "pool_name", "a talent pool")
    before, after = data.get("from_stage"), data.get("to_stage")
    if before and after:
        return f"Moved from {before} to {after} in {pool}"
    if after:
        return f"Added to {pool} at {after}"
    return f"Removed from {pool}"


def _consent(data: Mapping[str, Any]) -> str:
    purpose = _text(data, "purpose", "marketing").replace("_", " ")
    status = _text(data, "status", "changed")
    source = _text(data, "source").replace("_", " ")
    return f"Consent to {purpose} {status}" + (f" ({source})" if source else "")


def _event(verb: str) -> Callable[[Mapping[str, Any]], str]:
    def summary(data: Mapping[str, Any]) -> str:
        return f"{verb} {_text(data, 'event_name', 'an event')}"

    return summary


def _application(verb: str) -> Callable[[Mapping[str, Any]], str]:
    def summary(data: Mapping[str, Any]) -> str:
        job = _text(data, "job_name", "a job")
        stage = _text(data, "stage")
        return f"{verb} {job}" + (f" (stage {stage})" if stage else "")

    return summary


def _tags(data: Mapping[str, Any]) -> str:
    added = ", ".join(str(tag) for tag in data.get("added") or [])
    removed = ", ".join(str(tag) for tag in data.get("removed") or [])
    if added and removed:
        return f"Tagged {added}; untagged {removed}"
    if added:
        return f"Tagged {added}"
    return f"Untagged {removed}" if removed else "Tags changed"


def _imported(data: Mapping[str, Any]) -> str:
    verb = "Created" if data.get("outcome") == "created" else "Updated"
    return f"{verb} by an import"


def _merge(undone: bool) -> Callable[[Mapping[str, Any]], str]:
    def summary(data: Mapping[str, Any]) -> str:
        if undone:
            return "A merge was undone: the two records are apart again"
        if data.get("role") == "survivor":
            return "Another record was merged into this one"
        return "Merged into another record"

    return summary


# Why an enrolment ended early, as a recruiter reads it (`enrolment.ended`'s `exit_reason`).
EXIT_REASONS: dict[str, str] = {
    "replied": "replied",
    "applied": "applied",
    "hired": "hired",
    "unsubscribed": "unsubscribed",
    "removed": "removed by hand",
    "merged": "the record was merged",
    "sequence_archived": "the sequence was archived",
    "no_marketing_consent": "no marketing consent",
    "no_email_address": "no email address",
    "bounced": "the address bounced",
    "complained": "reported a mail as spam",
    "erased": "erased",
    "suppressed": "the address is suppressed",
}


def _reason(reasons: Mapping[str, str], value: Any) -> str:
    text = str(value or "")
    return reasons.get(text, text.replace("_", " "))


# Why a mail was not sent, as a recruiter reads it (`message.suppressed`'s `reason`).
SUPPRESSION_REASONS: dict[str, str] = {
    "no_marketing_consent": "no marketing consent",
    "no_email_address": "no email address",
    "unsubscribed": "unsubscribed",
    "bounced": "the address bounced",
    "complained": "reported a mail as spam",
    "erased": "erased",
    "manual": "the address is suppressed",
    "frequency_cap": "frequency cap: too many mails lately",
    "archived": "the record is archived",
}


def _suppressed(data: Mapping[str, Any]) -> str:
    subject = _text(data, "subject")
    mail = f"“{subject}”" if subject else "a mail"
    broadcast, sequence = _text(data, "broadcast_name"), _text(data, "sequence_name")
    origin = (
        f" of the broadcast {broadcast}"
        if broadcast
        else f" of the sequence {sequence}"
        if sequence
        else ""
    )
    reason = _reason(SUPPRESSION_REASONS, data.get("reason"))
    return f"Not sent: {mail}{origin}" + (f" ({reason})" if reason else "")


def _enrolment_started(data: Mapping[str, Any]) -> str:
    return f"Enrolled in the sequence {_text(data, 'sequence_name', 'a sequence')}"


def _enrolment_ended(data: Mapping[str, Any]) -> str:
    sequence = _text(data, "sequence_name", "a sequence")
    if data.get("outcome") == "completed":
        return f"Completed the sequence {sequence}"
    reason = _reason(EXIT_REASONS, data.get("exit_reason"))
    return f"Left the sequence {sequence}" + (f": {reason}" if reason else "")


TIMELINE_SUMMARIES: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "message.sent": _message("Was sent"),
    "message.opened": lambda _: "Opened a mail",
    "message.clicked": _clicked,
    "message.replied": lambda _: "Replied to a mail",
    "message.bounced": _bounced,
    "message.complained": lambda _: "Reported a mail as spam",
    "message.suppressed": _suppressed,
    "pool.stage_changed": _pool_stage,
    "consent.changed": _consent,
    "segment.entered": lambda data: (
        f"Entered the segment {_text(data, 'segment_name', '')}".strip()
    ),
    "segment.exited": lambda data: f"Left the segment {_text(data, 'segment_name', '')}".strip(),
    "event.registered": _event("Registered for"),
    "event.checked_in": _event("Checked in at"),
    "event.registration_cancelled": _event("Cancelled their registration for"),
    "event.attended": _event("Attended"),
    "event.no_show": _event("Did not come to"),
    "ats.application_created": _application("Applied for"),
    "ats.application_stage_changed": _application("Application moved on for"),
    "ats.application_rejected": _application("Application rejected for"),
    "ats.application_hired": _application("Hired for"),
    "candidate.tags_changed": _tags,
    "note.added": lambda _: "A note was added",
    "candidate.imported": _imported,
    "candidate.merged": _merge(undone=False),
    "candidate.unmerged": _merge(undone=True),
    "enrolment.started": _enrolment_started,
    "enrolment.ended": _enrolment_ended,
}


def _linked(prefix: str, key: str) -> Callable[[Mapping[str, Any]], str | None]:
    def link(data: Mapping[str, Any]) -> str | None:
        value = data.get(key)
        return f"{prefix}/{quote(str(value), safe='')}" if value else None

    return link


def _message_link(data: Mapping[str, Any]) -> str | None:
    # A sequence's or broadcast's mail opens what sent it; a one-off mail has no page.
    return _linked("/sequences", "sequence_id")(data) or _linked("/broadcasts", "broadcast_id")(
        data
    )


# Where an entry's line links to, under the console's root; kinds not named link nowhere.
TIMELINE_LINKS: dict[str, Callable[[Mapping[str, Any]], str | None]] = {
    "message.sent": _message_link,
    "message.suppressed": _message_link,
    "segment.entered": _linked("/segments", "segment_id"),
    "segment.exited": _linked("/segments", "segment_id"),
    "pool.stage_changed": _linked("/pools", "pool_id"),
    "event.registered": _linked("/events", "event_id"),
    "event.checked_in": _linked("/events", "event_id"),
    "event.registration_cancelled": _linked("/events", "event_id"),
    "event.attended": _linked("/events", "event_id"),
    "event.no_show": _linked("/events", "event_id"),
    "event.waitlisted": _linked("/events", "event_id"),
    "candidate.imported": _linked("/imports", "import_id"),
    "candidate.merged": _linked("/candidates/merges", "merge_id"),
    "candidate.unmerged": _linked("/candidates/merges", "merge_id"),
    "note.added": lambda _: "#notes",
    "enrolment.started": _linked("/sequences", "sequence_id"),
    "enrolment.ended": _linked("/sequences", "sequence_id"),
}


def timeline_link(entry: Mapping[str, Any]) -> str | None:
    """Where a timeline entry's line links to (a path under the console, or `#notes`)."""
    data = entry.get("data") or {}
    link = TIMELINE_LINKS.get(str(entry.get("type", "")))
    return link(data) if link is not None and isinstance(data, Mapping) else None


def timeline_summary(entry: Mapping[str, Any]) -> str:
    """One readable line for a timeline entry; an unknown type is named as it is."""
    kind = str(entry.get("type", ""))
    data = entry.get("data") or {}
    summary = TIMELINE_SUMMARIES.get(kind)
    if summary is None:
        return kind.replace(".", " ").replace("_", " ").capitalize() or "Activity"
    return summary(data if isinstance(data, Mapping) else {})


def full_name(candidate: Mapping[str, Any]) -> str:
    """The candidate's name as the page shows it."""
    return " ".join(
        part
        for part in (str(candidate.get("first_name") or ""), str(candidate.get("last_name") or ""))
        if part
    )


def _folded(text: str) -> str:
    return " ".join(text.split()).casefold()


def erasure_phrase(candidate: Mapping[str, Any]) -> str:
    """What an admin types to confirm an erasure: the person's name (their id if nameless)."""
    return full_name(candidate) or str(candidate["id"])


def erasure_confirmed(candidate: Mapping[str, Any], typed: str) -> bool:
    """Whether the typed confirmation names the person (case and spacing aside)."""
    return bool(typed.strip()) and _folded(typed) == _folded(erasure_phrase(candidate))


# Why a person's address is on the suppression list, as the profile says it.
SUPPRESSED_BECAUSE = {
    "unsubscribed": "they unsubscribed from marketing mail",
    "bounced": "mail to the address bounced",
    "complained": "they reported our mail as spam",
    "erased": "their data was erased",
    "manual": "a colleague suppressed it by hand",
}
# Only an unsubscribe lets transactional mail through (docs/governance.md).
_MARKETING_ONLY = frozenset({"unsubscribed"})


@dataclass(frozen=True)
class Suppressed:
    """One reason a person's address is suppressed, in words."""

    reason: str
    because: str
    # What the entry stops: "marketing mail" or "all mail".
    blocks: str
    since: str
    note: str


def suppressed_lines(entries: Sequence[Mapping[str, Any]]) -> list[Suppressed]:
    """The person's suppressions as the profile's notice lists them, one a reason (an address
    of theirs listed twice for one reason is said once), those that block all mail first."""
    seen: dict[str, Suppressed] = {}
    for entry in entries:
        reason = str(entry.get("reason", ""))
        if reason in seen:
            continue
        seen[reason] = Suppressed(
            reason=reason,
            because=SUPPRESSED_BECAUSE.get(reason, reason.replace("_", " ")),
            blocks="marketing mail" if reason in _MARKETING_ONLY else "all mail",
            since=str(entry.get("created_at") or ""),
            note=str(entry.get("note") or ""),
        )
    return sorted(seen.values(), key=lambda line: line.blocks == "marketing mail")


@dataclass(frozen=True)
class ReplyLine:
    """One reply on the profile's Replies card: to which mail, when, what they wrote."""

    subject: str
    received_at: str
    excerpt: str


@dataclass(frozen=True)
class RepliesPage:
    """A page of the Replies card, and the API's cursor to the older replies (None: no more)."""

    lines: list[ReplyLine]
    next_cursor: str | None


def replies_page(page: Mapping[str, Any]) -> RepliesPage:
    """A page of replied-to messages, newest first as the card asks the API for them, as reply
    lines newest first: each message's kept replies (stored as they came, oldest first)
    reversed."""
    lines = [
        ReplyLine(
            subject=str(message.get("subject") or ""),
            received_at=str(reply.get("received_at") or ""),
            excerpt=str(reply.get("excerpt") or ""),
        )
        for message in page.get("items") or []
        for reply in reversed(message.get("replies") or [])
    ]
    cursor = page.get("next_cursor")
    return RepliesPage(lines=lines, next_cursor=str(cursor) if cursor else None)
