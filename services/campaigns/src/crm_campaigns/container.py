"""Everything `create_app` built that routes and handlers use, typed."""

from __future__ import annotations

from dataclasses import dataclass, field

from crm_campaigns.adapters.senders import Senders
from crm_campaigns.application.broadcasts import BroadcastRunner
from crm_campaigns.application.delivery import MailDispatcher
from crm_campaigns.application.engine import SequenceEngine
from crm_campaigns.application.feedback import MailFeedback
from crm_campaigns.application.tracking import EngagementTracker
from crm_shared import Database, MongoClient, Outbox, Quotas, SignedLinks, Wakeup


@dataclass(frozen=True)
class CampaignsContainer:
    """The campaigns service's database, clients, use cases and workers' wake-ups."""

    mongo: MongoClient
    database: Database
    outbox: Outbox
    tracker: EngagementTracker
    signed_links: SignedLinks
    public_base_url: str
    quotas: Quotas
    mail_feedback: MailFeedback
    senders: Senders
    sequence_engine: SequenceEngine
    broadcast_runner: BroadcastRunner
    mail_dispatchers: list[MailDispatcher]
    # Wake the workers when something became due instead of waiting for their next poll.
    steps_due: Wakeup
    broadcasts_due: Wakeup
    messages_queued: Wakeup
    # A contact policy change: the held mail's re-evaluation may start.
    policy_changed: Wakeup = field(default_factory=Wakeup)
