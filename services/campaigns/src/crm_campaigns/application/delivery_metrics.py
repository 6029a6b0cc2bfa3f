"""What the mail dispatchers and the broadcasts expose for `/metrics`.

Counters are this process's (Prometheus sums them over replicas); the broadcast figures are
sampled from the database, the same in every replica (combined with `max`)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from crm_campaigns.domain.sending import Outcome
from crm_campaigns.repositories.broadcasts import open_broadcast_figures
from crm_shared import Database

# The reason counted when a message waits for its tenant's share of the sending rate.
HELD_BY_TENANT_RATE = "tenant_rate"


class DeliveryMetrics:
    """Counters of each message's fate at the SMTP stage, and the provider's limit."""

    def __init__(self, registry: CollectorRegistry, *, provider_rate: float) -> None:
        self._smtp = Counter(
            "crm_smtp_messages",
            "SMTP transactions by outcome: sent (accepted by the mail server), deferred (a "
            "temporary error; tried again later) or failed (refused for good, or out of attempts)",
            ["outcome"],
            registry=registry,
        )
        self._rate_wait = Counter(
            "crm_smtp_rate_limit_wait_seconds",
            "Seconds sends waited for their turn under the sending limit: the provider's "
            "(`provider`) or a tenant's own mail account's (`account`)",
            ["limit"],
            registry=registry,
        )
        provider_limit = Gauge(
            "crm_smtp_provider_rate_limit_messages_per_second",
            "The configured sending limit of the mail provider, shared by this process's "
            "dispatchers",
            registry=registry,
        )
        provider_limit.set(provider_rate)
        self._held = Counter(
            "crm_mail_held",
            "Messages held back for later by the contact policy (quiet hours, frequency cap) "
            "or the tenant's sending rate (`tenant_rate`), by reason",
            ["reason"],
            registry=registry,
        )
        self._suppressed = Counter(
            "crm_mail_suppressed",
            "Messages not sent for good (no consent, unsubscribed, bounced, ...), by reason",
            ["reason"],
            registry=registry,
        )
        self._broadcast_messages = Counter(
            "crm_broadcast_messages",
            "Broadcast messages finished, by outcome: sent, failed or skipped",
            ["outcome"],
            registry=registry,
        )
        for outcome in ("sent", "deferred", "failed"):
            self._smtp.labels(outcome)
        for limit in ("provider", "account"):
            self._rate_wait.labels(limit)
        for outcome in ("sent", "failed", "skipped"):
            self._broadcast_messages.labels(outcome)

    def waited_for_rate(self, seconds: float, *, own_account: bool) -> None:
        """A send waited this long under the provider's or its tenant's account's limit."""
        self._rate_wait.labels("account" if own_account else "provider").inc(seconds)

    def attempted(self, outcome: Outcome, *, final: bool) -> None:
        """An SMTP transaction ended; `final` when a failure will not be tried again."""
        if outcome is Outcome.SENT:
            self._smtp.labels("sent").inc()
        else:
            self._smtp.labels("failed" if final else "deferred").inc()

    def held(self, reason: str, count: int = 1) -> None:
        """Messages deferred before their SMTP transaction."""
        self._held.labels(reason).inc(count)

    def suppressed(self, reason: str, count: int = 1) -> None:
        """Messages skipped for good."""
        self._suppressed.labels(reason).inc(count)

    def broadcast_finished(self, *, sent: int, failed: int, skipped: int) -> None:
        """A batch's broadcast messages that reached an end."""
        for outcome, count in (("sent", sent), ("failed", failed), ("skipped", skipped)):
            if count:
                self._broadcast_messages.labels(outcome).inc(count)


class BroadcastGauges:
    """Broadcasts with work ahead of them, by status, and the messages they have yet to finish,
    across tenants, as the database holds them."""

    def __init__(self, database: Database, registry: CollectorRegistry) -> None:
        self._database = database
        self._open = Gauge(
            "crm_broadcasts_open",
            "Broadcasts preparing, sending or paused, by status, at the last sample",
            ["status"],
            registry=registry,
        )
        self._remaining = Gauge(
            "crm_broadcast_messages_remaining",
            "Queued messages of sending broadcasts that are not yet sent, failed or skipped, "
            "at the last sample",
            registry=registry,
        )

    async def sample(self) -> None:
        """Reads the open broadcasts' states and progress counters."""
        by_status, remaining = await open_broadcast_figures(self._database)
        for status, count in by_status.items():
            self._open.labels(status.value).set(count)
        self._remaining.set(remaining)
