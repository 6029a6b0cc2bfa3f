"""Consent write operations: the ledger, double opt-in, preference centre, unsubscribe.

Each operation is one MongoDB transaction: the ledger entries, the current states, the
candidate's `marketing_consent` (with `candidate.updated` and its segment changes) and the
`consent.changed` events commit together.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from crm_candidates.application.candidates import CandidateWriter
from crm_candidates.domain.consent import (
    ConsentEntry,
    ConsentPurpose,
    ConsentSource,
    ConsentState,
    ConsentStatus,
    LawfulBasis,
    PendingSignup,
    Preferences,
    RetentionPolicy,
    admit_confirmation,
    marketing_consent,
    next_check_at,
    signup_admitted,
    state_after,
)
from crm_candidates.domain.identity import IdentityTakenError
from crm_candidates.domain.models import Candidate, CandidateSource, CandidateStatus
from crm_candidates.domain.profile import profile_locale
from crm_candidates.publishers import to_consent_changed, to_consent_confirmation_requested
from crm_candidates.repositories.candidates import CandidateRepository
from crm_candidates.repositories.consents import (
    ConsentRepository,
    PendingSignupRepository,
    PreferenceRepository,
    SettingsRepository,
    SignupRepository,
)
from crm_candidates.repositories.segments import SegmentRepository
from crm_shared import (
    ConsentConfirmationRequested,
    Database,
    KeyedLocks,
    LinkClaim,
    MessageComplained,
    MongoClient,
    Outbox,
    Session,
    SignedLinks,
    email_sha256,
    in_transaction,
    is_erased,
    new_id,
    normalise_email,
    utc_now,
)
from crm_shared.links import SIGNUP_LINK_LIFETIME

CONFIRM_LINK = "consent_confirmation"
# A sign-up's double opt-in: the subject is the pending sign-up, not (yet) a candidate.
SIGNUP_LINK = "community_signup"
PREFERENCES_LINK = "preferences"
UNSUBSCRIBE_LINK = "unsubscribe"
COMMUNITY_PURPOSES = (ConsentPurpose.TALENT_COMMUNITY, ConsentPurpose.MARKETING)
COMMUNITY_USER = "public:community"
# Where a consent confirmed through a link came from, by the link's reason.
LINK_SOURCES = {
    "re_permission": ConsentSource.RE_PERMISSION,
    "event_registration": ConsentSource.EVENT_REGISTRATION,
}
# Changes the person made through a signed link.
CANDIDATE_USER = "public:candidate"
# Withdrawals on a spam complaint the campaigns service reported.
COMPLAINT_USER = "service:campaigns"

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConsentChange:
    """A grant or withdrawal to record."""

    purpose: ConsentPurpose
    status: ConsentStatus
    lawful_basis: LawfulBasis = LawfulBasis.CONSENT
    source: ConsentSource = ConsentSource.RECRUITER
    expires_at: datetime | None = None
    message_id: str | None = None
    evidence: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ConfirmationPolicy:
    """How confirmation mails are issued: the link base and the per-address cap; how long a
    sign-up (and its link) waits for its confirmation and how many a tenant takes an hour."""

    public_base_url: str
    max_per_address: int
    window: timedelta
    signup_ttl: timedelta = SIGNUP_LINK_LIFETIME
    signups_per_hour: int = 500


class SignupsExhausted(Exception):
    """The tenant took as many sign-ups as it may this hour."""


class SignupOutcome(StrEnum):
    CONFIRMATION_SENT = "confirmation_sent"
    RATE_LIMITED = "rate_limited"
    ALREADY_SUBSCRIBED = "already_subscribed"
    HONEYPOT = "honeypot"


class SignupConfirmation(StrEnum):
    CONFIRMED = "confirmed"
    ALREADY_CONFIRMED = "already_confirmed"
    EXPIRED = "expired"


@dataclass(frozen=True)
class Signup:
    """A talent-community sign-up as the public form sent it."""

    email: str
    first_name: str
    last_name: str
    topics: list[str]
    honeypot_filled: bool
    client_address: str
    # The person's language, as the form or their browser gave it (their confirmation mail's).
    locale: str | None = None


def signup_confirm_url(
    links: SignedLinks, policy: ConfirmationPolicy, signup: PendingSignup
) -> str:
    """The signed link that confirms a pending sign-up; it expires with the sign-up."""
    token = links.token(
        LinkClaim(
            purpose=SIGNUP_LINK,
            tenant_id=signup.tenant_id,
            subject=signup.id,
            expires_at=signup.expires_at,
            data={"request_id": signup.request_id},
        )
    )
    return f"{policy.public_base_url.rstrip('/')}/public/v1/community/confirm/{token}"


def confirm_url(
    links: SignedLinks,
    policy: ConfirmationPolicy,
    *,
    tenant_id: str,
    candidate_id: str,
    purposes: list[ConsentPurpose],
    request_id: str,
    expires_at: datetime,
    reason: str = "double_opt_in",
) -> str:
    """The signed link that confirms `purposes` for the candidate."""
    token = links.token(
        LinkClaim(
            purpose=CONFIRM_LINK,
            tenant_id=tenant_id,
            subject=candidate_id,
            expires_at=expires_at,
            data={
                "purposes": ",".join(p.value for p in purposes),
                "request_id": request_id,
                "reason": reason,
            },
        )
    )
    return f"{policy.public_base_url.rstrip('/')}/public/v1/community/confirm/{token}"


async def append_decision(
    consents: ConsentRepository,
    states: dict[ConsentPurpose, ConsentState],
    entry: ConsentEntry,
    policy: RetentionPolicy,
    *,
    session: Session,
) -> None:
    """Appends `entry` to the ledger and moves its purpose's stored state (and `states`) on,
    with the expiry worker's next look at it."""
    await consents.append(entry, session=session)
    state = state_after(states.get(entry.purpose), entry)
    state = state.model_copy(update={"next_check_at": next_check_at(state, policy)})
    await consents.save_state(state, session=session)
    states[entry.purpose] = state


@dataclass(frozen=True)
class ConsentLedger:
    """A candidate's consent: the record, the current state per purpose and the ledger."""

    candidate: Candidate
    current: list[ConsentState]
    history: list[ConsentEntry]


@dataclass(frozen=True)
class ConsentService:
    """Records one tenant's consent changes."""

    mongo: MongoClient
    database: Database
    outbox: Outbox
    tenant_id: str
    links: SignedLinks
    confirmation: ConfirmationPolicy
    # Sign-ups of one address wait for each other in this process: they write one shared
    # document, and a burst of them in parallel would mostly retry its transactions.
    signup_locks: KeyedLocks = field(default_factory=KeyedLocks)

    @property
    def candidates(self) -> CandidateRepository:
        return CandidateRepository(self.database, self.tenant_id)

    @property
    def consents(self) -> ConsentRepository:
        return ConsentRepository(self.database, self.tenant_id)

    @property
    def writer(self) -> CandidateWriter:
        return CandidateWriter(
            self.mongo,
            self.outbox,
            self.candidates,
            SegmentRepository(self.database, self.tenant_id),
        )

    async def ledger(self, candidate_id: str) -> ConsentLedger | None:
        """The candidate's consent per purpose (by purpose) and its append-only ledger; None for
        an unknown candidate."""
        candidate = await self.candidates.get(candidate_id)
        if candidate is None:
            return None
        states = await self.consents.states(candidate_id)
        history = await self.consents.history(candidate_id)
        current = sorted(states.values(), key=lambda state: state.purpose.value)
        return ConsentLedger(candidate=candidate, current=current, history=history)

    async def link_subject(self, candidate_id: str) -> Candidate | None:
        """The candidate a signed link names; None when there is none."""
        return await self.candidates.get(candidate_id)

    async def erased(self, candidate_id: str) -> bool:
        """Whether the person was erased (GDPR): their links answer 410, not 404."""
        return await is_erased(self.database, self.tenant_id, candidate_id)

    async def preferences(self, candidate_id: str) -> Preferences:
        """The candidate's topics and frequency (defaults when never set)."""
        return await PreferenceRepository(self.database, self.tenant_id).get(candidate_id)

    async def retention(self) -> RetentionPolicy:
        """The tenant's consent lifetime, re-permission window and lapse action."""
        return await SettingsRepository(self.database, self.tenant_id).retention()

    async def set_retention(self, policy: RetentionPolicy) -> None:
        """Replaces the tenant's retention policy; due consents follow it at their next check."""
        await SettingsRepository(self.database, self.tenant_id).set_retention(policy)

    async def apply(
        self,
        candidate: Candidate,
        changes: list[ConsentChange],
        recorded_by: str,
        *,
        session: Session,
    ) -> tuple[list[ConsentEntry], Candidate]:
        """Appends the changes to the ledger and brings states and the candidate up to date."""
        policy = await SettingsRepository(self.database, self.tenant_id).retention(session=session)
        states = await self.consents.states(candidate.id, session=session)
        entries: list[ConsentEntry] = []
        for change in changes:
            now = utc_now()
            expires_at = change.expires_at
            granted = change.status is ConsentStatus.GRANTED
            if granted and expires_at is None and change.lawful_basis is LawfulBasis.CONSENT:
                expires_at = policy.default_expiry(now)
            entry = ConsentEntry(
                tenant_id=self.tenant_id,
                candidate_id=candidate.id,
                purpose=change.purpose,
                status=change.status,
                lawful_basis=change.lawful_basis,
                source=change.source,
                recorded_at=now,
                expires_at=expires_at if granted else None,
                message_id=change.message_id,
                recorded_by=recorded_by,
                evidence=change.evidence,
            )
            await append_decision(self.consents, states, entry, policy, session=session)
            entries.append(entry)
        # Only a marketing entry moves the candidate's flag: a grant for another purpose leaves
        # alone a flag set without the ledger (an import, `PATCH marketing_consent`).
        marketing = (
            marketing_consent(states.values())
            if any(entry.purpose is ConsentPurpose.MARKETING for entry in entries)
            else candidate.marketing_consent
        )
        updates: dict[str, object] = {}
        if marketing != candidate.marketing_consent:
            updates["marketing_consent"] = marketing
        regranted = any(e.status is ConsentStatus.GRANTED for e in entries)
        if regranted and candidate.status is CandidateStatus.ARCHIVED:
            updates["status"] = CandidateStatus.ACTIVE
        if updates:
            changed = await self.writer.change_in(
                candidate.id, lambda current: current.model_copy(update=updates), session=session
            )
            candidate = changed or candidate
        for entry in entries:
            await to_consent_changed(
                self.outbox, entry, marketing_consent=marketing, session=session
            )
        return entries, candidate

    async def record(
        self, candidate_id: str, change: ConsentChange, recorded_by: str
    ) -> ConsentEntry | None:
        """Records one change for a candidate of the tenant; None if there is no such candidate."""

        async def work(session: Session) -> ConsentEntry | None:
            candidate = await self.candidates.get(candidate_id, session=session)
            if candidate is None:
                return None
            [entry], _ = await self.apply(candidate, [change], recorded_by, session=session)
            return entry

        entry = await in_transaction(self.mongo, work)
        self.outbox.notify_committed()
        return entry

    async def sign_up(self, signup: Signup) -> SignupOutcome:
        """A talent-community sign-up: unless the address had too many confirmation mails
        lately or already subscribed, a pending sign-up is stored and a double opt-in mail
        requested. No candidate is created before the link is used (`confirm_signup`).

        Raises SignupsExhausted when the tenant took its hourly number of sign-ups."""
        email = normalise_email(signup.email)
        digest = email_sha256(email)
        signups = SignupRepository(self.database, self.tenant_id)
        evidence = {
            "_id": new_id(),
            "email_sha256": digest,
            "requested_at": utc_now(),
            "client_address": signup.client_address,
        }
        if signup.honeypot_filled:
            # Recorded without a candidate: the bot learns nothing, the tenant sees the attempt.
            await signups.record(evidence | {"outcome": SignupOutcome.HONEYPOT.value})
            return SignupOutcome.HONEYPOT
        pending_signups = PendingSignupRepository(self.database, self.tenant_id)

        async def work(session: Session) -> SignupOutcome:
            now = utc_now()
            recent = await pending_signups.requested_since(
                now - timedelta(hours=1), session=session
            )
            if not signup_admitted(recent, self.confirmation.signups_per_hour):
                raise SignupsExhausted
            known = await self.candidates.find_by_emails([email], session=session)
            pending = PendingSignup(
                tenant_id=self.tenant_id,
                # A known address is greeted with the name on file, not the form's.
                email=email,
                email_sha256=digest,
                first_name=known.first_name if known else signup.first_name,
                last_name=known.last_name if known else signup.last_name,
                topics=signup.topics,
                locale=signup.locale or (known.locale if known else None),
                requested_at=now,
                expires_at=now + self.confirmation.signup_ttl,
            )
            outcome = await self._request_confirmation(pending, known, session)
            record = evidence | {"outcome": outcome.value}
            if known is not None:
                record["candidate_id"] = known.id
            if outcome is SignupOutcome.CONFIRMATION_SENT:
                record["signup_id"] = pending.id
            await signups.record(record, session=session)
            return outcome

        async with self.signup_locks.holding(f"{self.tenant_id}/{digest}"):
            outcome = await in_transaction(self.mongo, work)
        self.outbox.notify_committed()
        return outcome

    async def _request_confirmation(
        self,
        pending: PendingSignup,
        known: Candidate | None,
        session: Session,
    ) -> SignupOutcome:
        if known is not None:
            states = await self.consents.states(known.id, session=session)
            if all(
                p in states and states[p].status is ConsentStatus.GRANTED
                for p in COMMUNITY_PURPOSES
            ):
                return SignupOutcome.ALREADY_SUBSCRIBED
        signups = SignupRepository(self.database, self.tenant_id)
        allowed, counted = admit_confirmation(
            await signups.confirmations_sent(pending.email_sha256, session=session),
            pending.requested_at,
            limit=self.confirmation.max_per_address,
            window=self.confirmation.window,
        )
        # Written on every sign-up of the address, admitted or not: the shared document is
        # what makes concurrent sign-ups of one address conflict, so the cap holds.
        await signups.set_confirmations_sent(pending.email_sha256, counted, session=session)
        if not allowed:
            return SignupOutcome.RATE_LIMITED
        await PendingSignupRepository(self.database, self.tenant_id).add(pending, session=session)
        await to_consent_confirmation_requested(
            self.outbox,
            self.tenant_id,
            ConsentConfirmationRequested(
                # The candidate the confirmation will link: the address's, or the one it will
                # create with the sign-up's id.
                candidate_id=known.id if known else pending.id,
                email=pending.email,
                first_name=pending.first_name,
                purpose=",".join(p.value for p in COMMUNITY_PURPOSES),
                reason="double_opt_in",
                confirm_url=signup_confirm_url(self.links, self.confirmation, pending),
                expires_at=pending.expires_at,
                locale=pending.locale,
            ),
            session=session,
        )
        return SignupOutcome.CONFIRMATION_SENT

    async def pending_signup(self, signup_id: str) -> PendingSignup | None:
        """A sign-up that waits for (or went through) its confirmation; None once purged."""
        return await PendingSignupRepository(self.database, self.tenant_id).get(signup_id)

    async def confirm_signup(self, claim: LinkClaim) -> tuple[SignupConfirmation, str | None]:
        """Turns a pending sign-up into a candidate with the community consents: the address's
        candidate if there is one by now, else a new one with the sign-up's id. Using the link
        again changes nothing. Returns the outcome and the candidate's id."""
        pending_signups = PendingSignupRepository(self.database, self.tenant_id)

        async def work(session: Session) -> tuple[SignupConfirmation, str | None]:
            pending = await pending_signups.get(claim.subject, session=session)
            now = utc_now()
            if pending is None or pending.request_id != claim.data.get("request_id"):
                return SignupConfirmation.EXPIRED, None
            if pending.confirmed:
                return SignupConfirmation.ALREADY_CONFIRMED, pending.candidate_id
            if pending.expired(now):
                return SignupConfirmation.EXPIRED, None
            candidate = await self.candidates.find_by_emails([pending.email], session=session)
            if candidate is None:
                candidate = Candidate(
                    id=pending.id,
                    tenant_id=self.tenant_id,
                    created_by=COMMUNITY_USER,
                    first_name=pending.first_name,
                    last_name=pending.last_name,
                    emails=[pending.email],
                    locale=profile_locale(pending.locale),
                    source=CandidateSource.CAREER_SITE,
                    # Born with the marketing consent this transaction grants: one
                    # `candidate.created` that says so, rather than a created/updated pair on
                    # two topics that a consumer may apply in either order.
                    marketing_consent=True,
                )
                await self.writer.add(candidate, session=session)
            if pending.topics:
                await PreferenceRepository(self.database, self.tenant_id).save(
                    Preferences(
                        tenant_id=self.tenant_id, candidate_id=candidate.id, topics=pending.topics
                    ),
                    session=session,
                )
            changes = [
                ConsentChange(
                    purpose=purpose,
                    status=ConsentStatus.GRANTED,
                    source=ConsentSource.COMMUNITY_SIGNUP,
                    evidence={
                        "request_id": pending.request_id,
                        "confirmed_by": "email_link",
                        "signup_id": pending.id,
                    },
                )
                for purpose in COMMUNITY_PURPOSES
            ]
            await self.apply(candidate, changes, COMMUNITY_USER, session=session)
            await pending_signups.mark_confirmed(pending.id, candidate.id, now, session=session)
            await SignupRepository(self.database, self.tenant_id).link_candidate(
                pending.id, candidate.id, session=session
            )
            return SignupConfirmation.CONFIRMED, candidate.id

        for attempt in range(3):
            try:
                result = await in_transaction(self.mongo, work)
                break
            except IdentityTakenError:
                # A recruiter (or an import) added the address meanwhile; the next attempt
                # finds that candidate.
                if attempt == 2:
                    raise
        self.outbox.notify_committed()
        return result

    async def confirm(self, claim: LinkClaim) -> list[ConsentEntry] | None:
        """Grants what a confirmation link names; a link already used grants nothing again.

        None when the candidate is not (or no longer) in the tenant.
        """
        purposes = [ConsentPurpose(p) for p in claim.data.get("purposes", "").split(",") if p]
        request_id = claim.data.get("request_id", "")
        source = LINK_SOURCES.get(claim.data.get("reason", ""), ConsentSource.COMMUNITY_SIGNUP)

        async def work(session: Session) -> list[ConsentEntry] | None:
            candidate = await self.candidates.get(claim.subject, session=session)
            if candidate is None:
                return None
            if await self.consents.confirmed(claim.subject, request_id, session=session):
                return []
            changes = [
                ConsentChange(
                    purpose=purpose,
                    status=ConsentStatus.GRANTED,
                    source=source,
                    evidence={"request_id": request_id, "confirmed_by": "email_link"},
                )
                for purpose in purposes
            ]
            entries, _ = await self.apply(candidate, changes, COMMUNITY_USER, session=session)
            return entries

        entries = await in_transaction(self.mongo, work)
        self.outbox.notify_committed()
        return entries

    async def _withdraw_marketing_in(
        self,
        candidate: Candidate,
        change: ConsentChange,
        recorded_by: str,
        *,
        session: Session,
    ) -> Candidate:
        """Records the marketing withdrawal `change` (its lawful basis taken from the current
        grant); nothing is recorded if marketing consent was not given."""
        states = await self.consents.states(candidate.id, session=session)
        current = states.get(ConsentPurpose.MARKETING)
        if (current is None or current.status is not ConsentStatus.GRANTED) and (
            not candidate.marketing_consent
        ):
            return candidate
        basis = current.lawful_basis if current else LawfulBasis.CONSENT
        change = ConsentChange(
            purpose=ConsentPurpose.MARKETING,
            status=ConsentStatus.WITHDRAWN,
            lawful_basis=basis,
            source=change.source,
            message_id=change.message_id,
            evidence=change.evidence,
        )
        _, candidate = await self.apply(candidate, [change], recorded_by, session=session)
        return candidate

    async def withdraw_marketing(
        self, candidate_id: str, *, source: ConsentSource, message_id: str | None
    ) -> Candidate | None:
        """Withdraws marketing consent (unsubscribe); nothing is recorded if none was given."""

        async def work(session: Session) -> Candidate | None:
            candidate = await self.candidates.get(candidate_id, session=session)
            if candidate is None:
                return None
            change = ConsentChange(
                purpose=ConsentPurpose.MARKETING,
                status=ConsentStatus.WITHDRAWN,
                source=source,
                message_id=message_id,
            )
            return await self._withdraw_marketing_in(
                candidate, change, CANDIDATE_USER, session=session
            )

        candidate = await in_transaction(self.mongo, work)
        self.outbox.notify_committed()
        return candidate

    async def withdraw_on_complaint(
        self, candidate: Candidate, complaint: MessageComplained, *, session: Session
    ) -> Candidate:
        """Withdraws marketing consent because the person reported a message as spam (source
        `spam_complaint`, the message and the report as evidence), in the caller's
        transaction; nothing is recorded if marketing consent was not given."""
        change = ConsentChange(
            purpose=ConsentPurpose.MARKETING,
            status=ConsentStatus.WITHDRAWN,
            source=ConsentSource.SPAM_COMPLAINT,
            message_id=complaint.message_id,
            evidence={
                "message_id": complaint.message_id,
                "feedback_type": complaint.feedback_type,
                "reported_by": complaint.source,
            },
        )
        return await self._withdraw_marketing_in(candidate, change, COMPLAINT_USER, session=session)

    async def update_preferences(
        self,
        candidate_id: str,
        *,
        topics: list[str] | None,
        frequency: str | None,
        subscribed: bool | None,
        message_id: str | None,
    ) -> tuple[Candidate, Preferences] | None:
        """Stores preference-centre choices; (un)subscribing changes marketing consent."""
        repository = PreferenceRepository(self.database, self.tenant_id)

        async def work(session: Session) -> tuple[Candidate, Preferences] | None:
            candidate = await self.candidates.get(candidate_id, session=session)
            if candidate is None:
                return None
            current = await repository.get(candidate_id)
            changes: dict[str, object] = {"updated_at": utc_now()}
            if topics is not None:
                changes["topics"] = topics
            if frequency is not None:
                changes["frequency"] = frequency
            preferences = Preferences.model_validate(current.model_dump() | changes)
            await repository.save(preferences, session=session)
            if subscribed is not None and subscribed != candidate.marketing_consent:
                change = ConsentChange(
                    purpose=ConsentPurpose.MARKETING,
                    status=ConsentStatus.GRANTED if subscribed else ConsentStatus.WITHDRAWN,
                    source=ConsentSource.PREFERENCE_CENTRE,
                    message_id=message_id,
                )
                _, candidate = await self.apply(
                    candidate, [change], CANDIDATE_USER, session=session
                )
            return candidate, preferences

        result = await in_transaction(self.mongo, work)
        self.outbox.notify_committed()
        return result
