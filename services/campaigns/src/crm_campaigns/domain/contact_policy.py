"""Contact governance: how often a candidate may get marketing mail, and at what local time.

A tenant sets a frequency cap (at most N marketing messages in D days, across every sequence
and broadcast together) and quiet hours in the recipient's own time zone. `decide` is the pure
rule: given the policy, the moment, the recipient's zone and the marketing messages they got
recently, a message is allowed, deferred to the next instant it would be allowed, or skipped.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from typing import Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from crm_campaigns.domain.policy import ALLOW, Decision, Verdict


class LimitAction(StrEnum):
    """What happens to a message the frequency cap stops."""

    DEFER = "defer"
    SKIP = "skip"


class PolicyReason(StrEnum):
    """Why the policy held a message back."""

    FREQUENCY_CAP = "frequency_cap"
    QUIET_HOURS = "quiet_hours"


def zone_or_none(name: str | None) -> ZoneInfo | None:
    """The IANA time zone called `name`, or None when it is unknown or missing."""
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


class FrequencyCap(BaseModel):
    """At most `max_messages` marketing messages per candidate in any `period_days` days."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_messages: int = Field(ge=1, le=100)
    period_days: int = Field(ge=1, le=90)

    @property
    def period(self) -> timedelta:
        return timedelta(days=self.period_days)


class QuietHours(BaseModel):
    """No marketing mail between `start` and `end` (recipient's local time; may span midnight)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: time
    end: time

    @model_validator(mode="after")
    def _not_empty(self) -> Self:
        if self.start == self.end:
            raise ValueError("quiet hours need different start and end times")
        return self

    def contains(self, local: time) -> bool:
        """True when `local` lies inside the quiet window."""
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def ends_after(self, moment: datetime, zone: ZoneInfo) -> datetime:
        """The first end of the quiet window after `moment` (in UTC)."""
        local = moment.astimezone(zone)
        day = local.date() if local.time() < self.end else local.date() + timedelta(days=1)
        # A wall time skipped by a DST change resolves to the equivalent instant after the gap.
        return datetime.combine(day, self.end, tzinfo=zone).astimezone(UTC)


# The contact policy's time zone for recipients of none, until the tenant chooses one.
POLICY_DEFAULT_ZONE = "UTC"


class ContactPolicy(BaseModel):
    """A tenant's contact policy; the default allows everything (no cap, no quiet hours)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    frequency_cap: FrequencyCap | None = None
    quiet_hours: QuietHours | None = None
    on_limit: LimitAction = Field(
        default=LimitAction.DEFER,
        description="What the frequency cap does to a message: defer it to the next allowed "
        "instant, or skip it. Quiet hours always defer.",
    )
    default_time_zone: str = Field(
        default=POLICY_DEFAULT_ZONE,
        description="For recipients whose time zone is unknown or invalid: their quiet hours, "
        "and the send time of a broadcast at each one's local time (where UTC, the default, "
        "stands for the deployment's zone of the tenant, itself UTC unless configured).",
    )
    soft_bounce_limit: int = Field(
        default=3, ge=1, le=50, description="Soft bounces after which an address is suppressed."
    )

    @field_validator("default_time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        if zone_or_none(value) is None:
            raise ValueError(f"unknown time zone {value!r}")
        return value


def _cap_release(cap: FrequencyCap, moment: datetime, sends: list[datetime]) -> datetime | None:
    """When the cap admits one more message, if it is full at `moment`; else None."""
    in_window = sorted(sent for sent in sends if moment - cap.period < sent <= moment)
    if len(in_window) < cap.max_messages:
        return None
    return in_window[len(in_window) - cap.max_messages] + cap.period


def decide(
    policy: ContactPolicy,
    *,
    now: datetime,
    time_zone: str | None,
    recent_sends: list[datetime],
) -> Decision:
    """The policy's decision for a marketing message to a recipient at `now`."""
    zone = zone_or_none(time_zone) or ZoneInfo(policy.default_time_zone)
    first_reason: PolicyReason | None = None
    moment = now
    # Each constraint can only push the moment later; a cap full at `now` empties over time and
    # quiet hours end, so this settles within a couple of rounds.
    for _ in range(8):
        moved = False
        if policy.frequency_cap is not None:
            release = _cap_release(policy.frequency_cap, moment, recent_sends)
            if release is not None:
                if first_reason is None:
                    first_reason = PolicyReason.FREQUENCY_CAP
                    if policy.on_limit is LimitAction.SKIP:
                        return Decision.skip(PolicyReason.FREQUENCY_CAP)
                moment, moved = release, True
        if policy.quiet_hours is not None and policy.quiet_hours.contains(
            moment.astimezone(zone).time()
        ):
            first_reason = first_reason or PolicyReason.QUIET_HOURS
            moment, moved = policy.quiet_hours.ends_after(moment, zone), True
        if not moved:
            break
    if first_reason is None:
        return ALLOW
    return Decision.defer(first_reason, moment)


def changes_timing(before: ContactPolicy, after: ContactPolicy) -> bool:
    """Whether a new policy may move when held mail goes out (the cap, quiet hours, the zone
    they are read in, what a full cap does); the soft-bounce limit does not."""
    timing = {"frequency_cap", "quiet_hours", "on_limit", "default_time_zone"}
    return before.model_dump(include=timing) != after.model_dump(include=timing)


def earlier_release(
    policy: ContactPolicy,
    *,
    held_until: datetime,
    now: datetime,
    time_zone: str | None,
    recent_sends: list[datetime],
) -> Decision | None:
    """What a message the policy held until `held_until` gets under `policy`, when that lets it
    out sooner: ALLOW (due now) or a DEFER to an earlier moment; None when it should wait as it
    is. A stricter policy never pushes a held message later or skips it here: the dispatcher
    decides again when it comes due anyway, so re-evaluating only ever brings mail forward."""
    decision = decide(policy, now=now, time_zone=time_zone, recent_sends=recent_sends)
    if decision.verdict is Verdict.ALLOW:
        return decision if held_until > now else None
    if decision.verdict is Verdict.DEFER and decision.retry_at and decision.retry_at < held_until:
        return decision
    return None


class PolicyRelease(BaseModel):
    """Where the re-evaluation of mail held by the policy stands, after the policy changed."""

    model_config = ConfigDict(frozen=True)

    status: Literal["running", "done"] = Field(
        description="`running` while held messages are re-evaluated in batches, then `done`."
    )
    requested_at: datetime = Field(description="When the policy change asked for it.")
    finished_at: datetime | None = None
    held: int = Field(description="Messages the policy held when it changed.")
    examined: int = Field(default=0, description="Held messages re-evaluated so far.")
    released: int = Field(
        default=0, description="Of those, how many the new policy lets out sooner (most at once)."
    )
