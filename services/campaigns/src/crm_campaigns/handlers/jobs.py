"""Subscribers that keep the jobs projection from the ATS integration's `job.changed`."""

from __future__ import annotations

from crm_campaigns.application.jobs import project_job
from crm_campaigns.handlers.subscriptions import Subscription, timed_payload
from crm_shared import JOB_CHANGED

JOB_SUBSCRIPTIONS = (
    Subscription(
        JOB_CHANGED,
        "on_job_changed",
        timed_payload(project_job),
        description="Keeps the newest state of each ATS job, so templates can list the open "
        "jobs matching a recipient.",
    ),
)
