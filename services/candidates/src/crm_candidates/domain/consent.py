"""The consent ledger and the decisions taken on it, free of I/O.

Every grant, withdrawal or lapse is a new ledger entry; nothing is ever changed or removed
(until an erasure removes the person). The current state of each purpose is the latest entry of
that purpose, kept beside the ledger so the expiry worker can find what is due by an index.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from crm_shared import new_id, utc_now


class ConsentPurpose(StrEnum):
    """What a consent covers."""

    MARKETING = "marketing"
    TALENT_COMMUNITY = "talent_community"
    DATA_PROCESSING = "data_processing"


class ConsentStatus(StrEnum):
    GRANTED = "granted"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"


class LawfulBasis(StrEnum):
    """GDPR article 6 bases the CRM records."""

    CONSENT = "consent"
    LEGITIMATE_INTEREST = "legitimate_interest"
    CONTRACT = "contract"
    LEGAL_OBLIGATION = "legal_obligation"


class ConsentSource(StrEnum):
    """Where a consent change came from."""

    RECRUITER = "recruiter"
    COMMUNITY_SIGNUP = "community_signup"
    RE_PERMISSION = "re_permission"
    PREFERENCE_CENTRE = "preference_centre"
    UNSUBSCRIBE_LINK = "unsubscribe_link"
    EXPIRY = "expiry"
    # Ticked on an event's registration form, then confirmed through the mailed link.
    EVENT_REGISTRATION = "event_registration"
    # The person reported one of our mails as spam (`message.complained`): the strongest
    # "stop", so marketing consent is withdrawn as an unsubscribe would.
    SPAM_COMPLAINT = "spam_complaint"
    # `marketing_consent` set on the profile (`POST`/`PATCH /candidates`) rather than through
    # the ledger endpoint; and by an import's column of that name.
    PROFILE = "profile"
    IMPORT = "import"
    # Recorded by the migration for a consent given before every grant reached the ledger.
    BACKFILL = "backfill"


class LapseAction(StrEnum):
    """What happens to a candidate whose last consent lapsed."""

    ARCHIVE = "archive"
    PURGE = "purge"


class RetentionPolicy(BaseModel):
    """A tenant's consent lifetime and what to do when it ends."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    consent_validity_days: int = Field(
        default=730, ge=1, le=3650, description="How long a consent given without a date lasts."
    )
    re_permission_days_before: int = Field(
        default=30, ge=0, le=365, description="Days before expiry the re-permission mail goes."
    )
    on_lapse: LapseAction = Field(
        default=LapseAction.ARCHIVE,
        description="`archive` keeps the record out of lists; `purge` erases the person.",
    )

    def default_expiry(self, granted_at: datetime) -> datetime:
        """When a consent granted at `granted_at` without an explicit end expires."""
        return granted_at + timedelta(days=self.consent_validity_days)


class ConsentEntry(BaseModel):
    """One ledger entry: a grant, withdrawal or lapse of one purpose."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(default_factory=new_id)
    tenant_id: str
    candidate_id: str
    purpose: ConsentPurpose
    status: ConsentStatus
    lawful_basis: LawfulBasis
    source: ConsentSource
    recorded_at: datetime = Field(default_factory=utc_now)
    expires_at: datetime | None = None
    message_id: str | None = None
    recorded_by: str
    evidence: dict[str, str] = Field(default_factory=dict)


class ConsentState(BaseModel):
    """The current state of one purpose of one candidate (the latest entry, plus scheduling)."""

    model_config = ConfigDict(frozen=True)

    tenant_id: str
    candidate_id: str
    purpose: ConsentPurpose
    status: ConsentStatus
    lawful_basis: LawfulBasis
    source: ConsentSource
    changed_at: datetime
    granted_at: datetime | None = None
    withdrawn_at: datetime | None = None
    expires_at: datetime | None = None
    re_permission_requested_for: datetime | None = Field(
        default=None, description="The expiry a re-permission request was already sent for."
    )
    next_check_at: datetime | None = Field(
        default=None, description="When the expiry worker looks at this consent next."
    )


def state_after(previous: ConsentState | None, entry: ConsentEntry) -> ConsentState:
    """The state of a purpose once `entry` is appended to its ledger."""
    granted = entry.status is ConsentStatus.GRANTED
    return ConsentState(
        tenant_id=entry.tenant_id,
        candidate_id=entry.candidate_id,
        purpose=entry.purpose,
        status=entry.status,
        lawful_basis=entry.lawful_basis,
        source=entry.source,
        changed_at=entry.recorded_at,
        granted_at=entry.recorded_at if granted else previous.granted_at if previous else None,
        withdrawn_at=None if granted else entry.recorded_at,
        expires_at=entry.expires_at if granted else None,
        # A new grant starts a new period: its re-permission has not been asked for yet.
        re_permission_requested_for=None,
    )


def replay(entries: Iterable[ConsentEntry]) -> dict[ConsentPurpose, ConsentState]:
    """The current state of every purpose, folded from a ledger in recording order."""
    states: dict[ConsentPurpose, ConsentState] = {}
    for entry in sorted(entries, key=lambda e: (e.recorded_at, e.id)):
        states[entry.purpose] = state_after(states.get(entry.purpose), entry)
    return states


def later_decisions(
    survivor: Mapping[ConsentPurpose, ConsentState], merged: Mapping[ConsentPurpose, ConsentState]
) -> list[ConsentState]:
    """The merged record's current decisions a merge carries over to the survivor: those of a
    purpose the survivor decided nothing on, or decided on earlier. The person's latest word
    stands, whichever of their records it was given on: a withdrawal on one address is not
    undone by an older grant on another."""
    return [
        state
        for purpose, state in sorted(merged.items())
        if purpose not in survivor or state.changed_at > survivor[purpose].changed_at
    ]


def marketing_consent(states: Iterable[ConsentState]) -> bool:
    """Whether marketing messages may be sent: the marketing purpose is currently granted."""
    return any(
        s.purpose is ConsentPurpose.MARKETING and s.status is ConsentStatus.GRANTED for s in states
    )


def flag_change(was_set: bool, is_set: bool, state: ConsentState | None) -> ConsentStatus | None:
    """The marketing ledger entry a change of the candidate's `marketing_consent` flag needs,
    if the ledger does not say so already: a grant when it was set, a withdrawal when cleared."""
    if was_set == is_set:
        return None
    granted = state is not None and state.status is ConsentStatus.GRANTED
    if is_set and not granted:
        return ConsentStatus.GRANTED
    if not is_set and granted:
        return ConsentStatus.WITHDRAWN
    return None


def backfilled_expiry(granted_at: datetime, now: datetime, policy: RetentionPolicy) -> datetime:
    """The expiry a grant recorded without one gets: the tenant's validity from when it was
    granted, but no sooner than the re-permission window from now, so that nobody lapses
    without being asked first."""
    grace = now + timedelta(days=policy.re_permission_days_before)
    return max(policy.default_expiry(granted_at), grace)


class ExpiryAction(StrEnum):
    NOTHING = "nothing"
    REQUEST_RE_PERMISSION = "request_re_permission"
    EXPIRE = "expire"


def expiry_action(state: ConsentState, now: datetime, policy: RetentionPolicy) -> ExpiryAction:
    """What the expiry worker does with a consent now."""
    if state.status is not ConsentStatus.GRANTED or state.expires_at is None:
        return ExpiryAction.NOTHING
    if now >= state.expires_at:
        return ExpiryAction.EXPIRE
    if state.re_permission_requested_for == state.expires_at:
        return ExpiryAction.NOTHING  # one request per consent period
    if now >= state.expires_at - timedelta(days=policy.re_permission_days_before):
        return ExpiryAction.REQUEST_RE_PERMISSION
    return ExpiryAction.NOTHING


def next_check_at(state: ConsentState, policy: RetentionPolicy) -> datetime | None:
    """When the expiry worker must next look at a consent; None when it never needs to."""
    if state.status is not ConsentStatus.GRANTED or state.expires_at is None:
        return None
    if state.re_permission_requested_for == state.expires_at:
        return state.expires_at
    return state.expires_at - timedelta(days=policy.re_permission_days_before)


def lapse_leaves_no_consent(states: Iterable[ConsentState]) -> bool:
    """Whether, after a lapse, nothing granted is left that allows keeping the person on file."""
    return not any(s.status is ConsentStatus.GRANTED for s in states)


def admit_confirmation(
    sent: Iterable[datetime], now: datetime, *, limit: int, window: timedelta
) -> tuple[bool, list[datetime]]:
    """Whether one more confirmation mail may go to an address, and the sends still counted.

    At most `limit` mails within any `window`; older sends are forgotten.
    """
    recent = sorted(t for t in sent if t > now - window)
    if len(recent) >= limit:
        return False, recent
    return True, [*recent, now]


class Frequency(StrEnum):
    """How often a candidate wants to hear from the tenant."""

    ANY = "any"
    WEEKLY = "weekly"
    MONTHLY = "monthly"


class Preferences(BaseModel):
    """What a candidate chose in the preference centre."""

    model_config = ConfigDict(frozen=True)

    tenant_id: str
    candidate_id: str
    topics: list[str] = Field(default_factory=list)
    frequency: Frequency = Frequency.ANY
    updated_at: datetime = Field(default_factory=utc_now)


class PendingSignup(BaseModel):
    """A talent-community sign-up waiting for its double opt-in.

    Nobody has proven the address yet, so it creates no candidate: the candidate is created (or
    the address's candidate found) only when the link mailed to the address is used. Until then
    it is this document, which expires and is purged. A new candidate gets the sign-up's id, so
    the confirmation mail and the candidate it leads to share one id.
    """

    model_config = ConfigDict(frozen=True)

    id: str = Field(default_factory=new_id)
    tenant_id: str
    email: str
    email_sha256: str
    first_name: str
    last_name: str = ""
    topics: list[str] = Field(default_factory=list)
    # The language its mail was written for (the form's, the browser's, or the person's on
    # file): its pages speak it, and a candidate it creates keeps it.
    locale: str | None = None
    requested_at: datetime
    expires_at: datetime
    request_id: str = Field(default_factory=new_id)
    # Set on confirmation, when the personal fields above are cleared.
    candidate_id: str | None = None
    confirmed_at: datetime | None = None

    @property
    def confirmed(self) -> bool:
        return self.confirmed_at is not None

    def expired(self, now: datetime) -> bool:
        """Whether the sign-up can no longer be confirmed."""
        return not self.confirmed and self.expires_at <= now


def signup_admitted(recent_signups: int, limit: int) -> bool:
    """Whether a tenant that received `recent_signups` pending sign-ups in the last hour may
    take another: the cap bounds the mail an anonymous form can send on the tenant's behalf."""
    return recent_signups < limit
