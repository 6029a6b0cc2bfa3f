"""Subscribers that keep the recipient projection: profiles, merges, consent and erasure."""

from __future__ import annotations

from crm_campaigns.application.recipients import (
    fold_merged_candidate,
    follow_consent_change,
    project_profile,
    restore_unmerged_candidates,
    suppress_erased_candidate,
    update_profile,
)
from crm_campaigns.handlers.subscriptions import Subscription, payload
from crm_shared import (
    CANDIDATE_CREATED,
    CANDIDATE_ERASED,
    CANDIDATE_MERGED,
    CANDIDATE_UNMERGED,
    CANDIDATE_UPDATED,
    CONSENT_CHANGED,
)

CANDIDATE_SUBSCRIPTIONS = (
    Subscription(
        CANDIDATE_MERGED,
        "on_candidate_merged",
        payload(fold_merged_candidate),
        description="Moves a merged candidate's recipient, enrolments and messages to the "
        "survivor (an enrolment in a sequence the survivor is in already ends).",
    ),
    Subscription(
        CANDIDATE_UNMERGED,
        "on_candidate_unmerged",
        payload(restore_unmerged_candidates),
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
    Subscription(
        CANDIDATE_CREATED,
        "on_candidate_created",
        payload(project_profile),
        description="Keeps the recipient projection (name, email, consent, zone) of candidates.",
    ),
    Subscription(
        CANDIDATE_UPDATED,
        "on_candidate_updated",
        payload(update_profile),
        description="Keeps the recipient projection current; a consent withdrawal ends enrolments.",
    ),
    Subscription(
        CONSENT_CHANGED,
        "on_consent_changed",
        payload(follow_consent_change),
        description="Ends a candidate's active enrolments and suppresses their addresses when "
        "marketing consent is withdrawn (granting it again lifts the suppression).",
    ),
)
