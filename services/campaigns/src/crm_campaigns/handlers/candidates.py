"""Subscribers that keep the recipient projection: profiles, merges, consent and erasure."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from crm_campaigns.application.custom_fields import learn_custom_field
from crm_campaigns.application.recipients import (
    fill_custom_fields,
    fold_merged_candidate,
    follow_consent_change,
    project_profiles,
    restore_unmerged_candidates,
    suppress_erased_candidate,
    update_profiles,
)
from crm_campaigns.handlers.subscriptions import (
    BatchHandle,
    BatchSubscription,
    Subscription,
    payload,
    timed_payload,
)
from crm_shared import (
    CANDIDATE_CREATED,
    CANDIDATE_CUSTOM_FIELDS_BACKFILLED,
    CANDIDATE_ERASED,
    CANDIDATE_MERGED,
    CANDIDATE_UNMERGED,
    CANDIDATE_UPDATED,
    CONSENT_CHANGED,
    CUSTOM_FIELD_CHANGED,
    Database,
    EventEnvelope,
    Session,
    by_tenant,
)
from crm_shared.directory import ProfileChange

ProfileUseCase = Callable[[Database, str, Sequence[ProfileChange], Session], Awaitable[object]]


def profile_changes(use_case: ProfileUseCase) -> BatchHandle:
    """Calls the use case once per tenant with that tenant's profiles in the batch's order,
    each with its event's time."""

    async def handle(
        database: Database, envelopes: Sequence[EventEnvelope[Any]], session: Session
    ) -> None:
        for tenant_id, events in by_tenant(envelopes).items():
            changes = [ProfileChange(event.data, event.time) for event in events]
            await use_case(database, tenant_id, changes, session)

    return handle


CANDIDATE_SUBSCRIPTIONS = (
    Subscription(
        CANDIDATE_MERGED,
        "on_candidate_merged",
        timed_payload(fold_merged_candidate),
        description="Moves a merged candidate's recipient, enrolments, messages, applications "
        "and signals to the survivor (one enrolment per sequence goes on), then ends the "
        "survivor's enrolments whose exit conditions hold.",
    ),
    Subscription(
        CANDIDATE_UNMERGED,
        "on_candidate_unmerged",
        timed_payload(restore_unmerged_candidates),
        description="Moves back what a merge moved and projects both restored candidates.",
    ),
    # A subscriber of its own (and so a consumer group of its own) next to the GDPR eraser's
    # `on_candidate_erased`, which deletes the person's data (see `crm_shared.gdpr`).
    Subscription(
        CANDIDATE_ERASED,
        "on_candidate_erased_suppress",
        payload(suppress_erased_candidate),
        description="Suppresses every address of an erased candidate for good (by hash only).",
    ),
    BatchSubscription(
        CANDIDATE_CREATED,
        "on_candidate_created",
        profile_changes(project_profiles),
        description="Keeps the recipient projection (name, email, consent, zone) of candidates.",
    ),
    BatchSubscription(
        CANDIDATE_UPDATED,
        "on_candidate_updated",
        profile_changes(update_profiles),
        description="Keeps the recipient projection current; a consent withdrawal ends enrolments.",
    ),
    Subscription(
        CUSTOM_FIELD_CHANGED,
        "on_custom_field_changed",
        payload(learn_custom_field),
        description="Keeps the tenant's custom field definitions, which templates may merge "
        "as candidate.custom_fields.<key>.",
    ),
    Subscription(
        CANDIDATE_CUSTOM_FIELDS_BACKFILLED,
        "on_candidate_custom_fields_backfilled",
        payload(fill_custom_fields),
        description="Fills the custom field values of a recipient projected before campaigns "
        "kept them (never over those a profile event brought).",
    ),
    Subscription(
        CONSENT_CHANGED,
        "on_consent_changed",
        payload(follow_consent_change),
        description="Ends a candidate's active enrolments and suppresses their addresses when "
        "marketing consent is withdrawn (granting it again lifts the suppression).",
    ),
)
