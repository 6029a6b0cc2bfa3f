"""Subscribers that keep pool health: talent pool membership (`pool.stage_changed`,
`pool.stage_renamed`) and ATS application outcomes, each topic in a consumer group of its own
(new groups, so pool health was built from each topic's earliest retained event)."""

from __future__ import annotations

from crm_shared import (
    ATS_APPLICATION_CREATED,
    ATS_APPLICATION_HIRED,
    ATS_APPLICATION_REJECTED,
    ATS_APPLICATION_STAGE_CHANGED,
    POOL_STAGE_CHANGED,
    POOL_STAGE_RENAMED,
    TopicSpec,
)

# (topic, consumer group, description); the group names are deployed state
# (tests/unit/shared/test_consumer_groups.py).
SUBSCRIPTIONS: tuple[tuple[TopicSpec, str, str], ...] = (
    (
        POOL_STAGE_CHANGED,
        "pool_health_pool_stage_changed",
        "A candidate added to, moved in or removed from a talent pool (pool health).",
    ),
    (POOL_STAGE_RENAMED, "pool_health_pool_stage_renamed", "A pool stage renamed (pool health)."),
    (
        ATS_APPLICATION_CREATED,
        "pool_health_ats_application_created",
        "An ATS application, open until decided (silver medallists).",
    ),
    (
        ATS_APPLICATION_STAGE_CHANGED,
        "pool_health_ats_application_stage_changed",
        "An ATS application moved, or reopened (silver medallists).",
    ),
    (
        ATS_APPLICATION_REJECTED,
        "pool_health_ats_application_rejected",
        "An ATS application rejected, and the stage it reached (silver medallists).",
    ),
    (
        ATS_APPLICATION_HIRED,
        "pool_health_ats_application_hired",
        "A hire (silver medallists hired since are no longer available).",
    ),
)
