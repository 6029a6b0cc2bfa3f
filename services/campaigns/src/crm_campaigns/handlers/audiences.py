"""Subscribers that keep segment, pool and stored list membership (and enrol on entry)."""

from __future__ import annotations

from crm_campaigns.application.audiences import (
    add_list_member,
    archive_list,
    learn_pool,
    place_in_pool,
    remove_list_member,
    rename_pool_stage,
)
from crm_campaigns.application.enrolments import enter_segment, exit_segment
from crm_campaigns.handlers.subscriptions import Subscription, payload
from crm_shared import (
    LIST_ARCHIVED,
    LIST_MEMBER_ADDED,
    LIST_MEMBER_REMOVED,
    POOL_SAVED,
    POOL_STAGE_CHANGED,
    POOL_STAGE_RENAMED,
    SEGMENT_ENTERED,
    SEGMENT_EXITED,
)

AUDIENCE_SUBSCRIPTIONS = (
    Subscription(
        SEGMENT_ENTERED,
        "on_segment_entered",
        payload(enter_segment),
        description="Enrols a candidate entering a segment in the sequences it triggers.",
    ),
    Subscription(
        SEGMENT_EXITED,
        "on_segment_exited",
        payload(exit_segment),
        description="Keeps the segment membership projection current.",
    ),
    Subscription(
        POOL_STAGE_CHANGED,
        "on_pool_stage_changed",
        payload(place_in_pool),
        description="Keeps pool membership; enrols a candidate reaching a pool stage in sequences.",
    ),
    Subscription(
        POOL_SAVED,
        "on_pool_saved",
        payload(learn_pool),
        description="Keeps each talent pool's name and stages, which the stages sequences name "
        "are checked against.",
    ),
    Subscription(
        POOL_STAGE_RENAMED,
        "on_pool_stage_renamed",
        payload(rename_pool_stage),
        description="Follows a pool stage's rename in pool membership, sequence triggers and "
        "move_stage steps, and broadcasts that have not snapshotted their audience.",
    ),
    Subscription(
        LIST_MEMBER_ADDED,
        "on_list_member_added",
        payload(add_list_member),
        description="Keeps the stored list membership projection (broadcast audiences).",
    ),
    Subscription(
        LIST_MEMBER_REMOVED,
        "on_list_member_removed",
        payload(remove_list_member),
        description="Keeps the stored list membership projection current.",
    ),
    Subscription(
        LIST_ARCHIVED,
        "on_list_archived",
        payload(archive_list),
        description="Remembers an archived list: broadcasts to it are paused, not sent.",
    ),
)
