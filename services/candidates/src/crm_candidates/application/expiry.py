"""The consent expiry worker: re-permission before a consent ends, archive or purge after; and
the purge of talent-community sign-ups whose confirmation link expired unused.

Consents are found by their indexed `next_check_at` and claimed with a lease (like campaigns
claims sequence steps), so replicas share the work and a crashed worker's claim is taken over
when its lease ends. Each decision commits in one transaction that re-checks the lease and that
the consent did not change since it was claimed, so a re-permission request goes out once per
consent period and a lapse is recorded once.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta

from crm_candidates.application.consents import (
    ConfirmationPolicy,
    ConsentChange,
    ConsentService,
    confirm_url,
)
from crm_candidates.application.erasure import CandidateEraser
from crm_candidates.domain.consent import (
    ConsentSource,
    ConsentState,
    ConsentStatus,
    ExpiryAction,
    LapseAction,
    expiry_action,
    lapse_leaves_no_consent,
    next_check_at,
)
from crm_candidates.domain.models import Candidate, CandidateStatus
from crm_candidates.publishers import to_consent_confirmation_requested
from crm_candidates.repositories.consents import (
    ConsentRepository,
    SettingsRepository,
    claim_due_consents,
    holds_lease,
    purge_expired_signups,
)
from crm_shared import (
    ConsentConfirmationRequested,
    Database,
    MongoClient,
    Outbox,
    Session,
    SignedLinks,
    in_transaction,
    utc_now,
)

EXPIRY_USER = "system:consent-expiry"

logger = logging.getLogger(__name__)


@dataclass
class ConsentExpiryWorker:
    """Handles due consents of every tenant."""

    mongo: MongoClient
    database: Database
    outbox: Outbox
    links: SignedLinks
    confirmation: ConfirmationPolicy
    lease: timedelta
    batch_size: int

    def __post_init__(self) -> None:
        self.owner = f"consent-expiry-{uuid.uuid4().hex[:12]}"

    async def run_due(self) -> int:
        """Purges expired sign-ups, then handles up to one batch of due consents; returns how
        many consents it claimed."""
        purged = await purge_expired_signups(self.database, now=utc_now())
        if purged:
            logger.info("purged %d expired talent-community sign-ups", purged)
        # The batch is found and leased at once, not a query per consent.
        claimed = await claim_due_consents(
            self.database, owner=self.owner, lease=self.lease, now=utc_now(), limit=self.batch_size
        )
        handled = 0
        for state in claimed:
            try:
                await self._handle(state)
            except Exception:
                # The lease runs out and the consent is claimed again later.
                logger.exception(
                    "consent %s of candidate %s failed", state.purpose, state.candidate_id
                )
            handled += 1
        if handled:
            self.outbox.notify_committed()
        return handled

    async def _handle(self, claimed: ConsentState) -> None:
        tenant_id = claimed.tenant_id
        policy = await SettingsRepository(self.database, tenant_id).retention()
        action = expiry_action(claimed, utc_now(), policy)
        service = ConsentService(
            self.mongo, self.database, self.outbox, tenant_id, self.links, self.confirmation
        )
        consents = ConsentRepository(self.database, tenant_id)
        purge = False

        async def work(session: Session) -> None:
            nonlocal purge
            if not await holds_lease(self.database, claimed, self.owner, session=session):
                return  # changed meanwhile, or another worker took over an expired lease
            candidate = await service.candidates.get(claimed.candidate_id, session=session)
            if candidate is None or action is ExpiryAction.NOTHING:
                # Nothing due now (e.g. the tenant moved the re-permission window): reschedule.
                rescheduled = claimed.model_copy(
                    update={"next_check_at": next_check_at(claimed, policy) if candidate else None}
                )
                await consents.save_state(rescheduled, session=session)
                return
            if action is ExpiryAction.REQUEST_RE_PERMISSION:
                await self._request_re_permission(claimed, candidate, session)
                requested = claimed.model_copy(
                    update={"re_permission_requested_for": claimed.expires_at}
                )
                requested = requested.model_copy(
                    update={"next_check_at": next_check_at(requested, policy)}
                )
                await consents.save_state(requested, session=session)
                return
            lapse = ConsentChange(
                purpose=claimed.purpose,
                status=ConsentStatus.EXPIRED,
                lawful_basis=claimed.lawful_basis,
                source=ConsentSource.EXPIRY,
            )
            _, candidate = await service.apply(candidate, [lapse], EXPIRY_USER, session=session)
            states = await consents.states(candidate.id, session=session)
            if not lapse_leaves_no_consent(states.values()):
                return
            # Archived in the lapse's transaction even when purging: should the erasure after it
            # fail, the person is at least out of every list until an admin erases them.
            purge = policy.on_lapse is LapseAction.PURGE
            if candidate.status is CandidateStatus.ACTIVE:
                await service.writer.change_in(
                    candidate.id,
                    lambda current: current.model_copy(update={"status": CandidateStatus.ARCHIVED}),
                    session=session,
                )

        await in_transaction(self.mongo, work)
        if purge:
            await CandidateEraser(self.mongo, self.database, self.outbox).erase(
                tenant_id, claimed.candidate_id
            )

    async def _request_re_permission(
        self, state: ConsentState, candidate: Candidate, session: Session
    ) -> None:
        emails = candidate.emails
        if not emails or state.expires_at is None:
            return
        request_id = f"re-permission:{state.purpose.value}:{int(state.expires_at.timestamp())}"
        await to_consent_confirmation_requested(
            self.outbox,
            state.tenant_id,
            ConsentConfirmationRequested(
                candidate_id=state.candidate_id,
                email=emails[0],
                first_name=candidate.first_name,
                purpose=state.purpose.value,
                reason="re_permission",
                confirm_url=confirm_url(
                    self.links,
                    self.confirmation,
                    tenant_id=state.tenant_id,
                    candidate_id=state.candidate_id,
                    purposes=[state.purpose],
                    request_id=request_id,
                    expires_at=state.expires_at,
                    reason="re_permission",
                ),
                expires_at=state.expires_at,
                locale=candidate.locale,
            ),
            session=session,
        )
