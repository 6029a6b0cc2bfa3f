"""Settings every service shares; each service's `config` module extends `ServiceSettings`."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from crm_shared.links import SignedLinks


class ServiceSettings(BaseSettings):
    """Connection and platform settings, read from the environment by the composition root."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", frozen=True)

    service_name: str
    kafka_bootstrap_servers: str = "127.0.0.1:19092"
    # Consumer groups are `<prefix>.<service>.<handler>`; two deployments sharing one broker
    # (for example test stacks) must use different prefixes or they split each other's events.
    kafka_group_prefix: str = "crm"
    # A broker outage must cost a few connection attempts a second, not thousands
    # (docs/reliability.md): aiokafka pauses `retry_backoff` between retries of a failed request,
    # and after a refused connection no client of the process tries that broker again for
    # `reconnect_backoff`, doubling per failure up to `reconnect_backoff_max`.
    kafka_retry_backoff_ms: int = Field(default=250, gt=0)
    kafka_reconnect_backoff_ms: int = Field(default=250, gt=0)
    kafka_reconnect_backoff_max_ms: int = Field(default=5000, gt=0)
    mongodb_uri: str = "mongodb://127.0.0.1:27117/?directConnection=true"
    mongodb_database: str = ""
    # Production unless said otherwise: a deployment that forgets the setting gets the safe
    # checks (docs/security.md, "Safe defaults"); the devstack and the tests say development.
    environment: Literal["production", "development"] = "production"
    # The gateway's Ed25519 public key (PEM text, or the path of a PEM file) that every internal
    # token must be signed with; a service refuses to start without it.
    internal_token_public_key: str = ""
    # The audience a service accepts internal tokens for; its service name unless set.
    internal_token_audience: str = ""
    internal_token_ttl_seconds: int = Field(default=60, gt=0)
    # Signs links for people without a login (opt-in, preference centre, unsubscribe); every
    # service that issues or honours such links must share it.
    link_signing_secret: SecretStr = SecretStr("")
    # Rotation: the current secret's key id (empty for the first key), and earlier secrets by key
    # id, still honoured so links already mailed keep working (JSON: {"": "<old secret>"}).
    link_signing_key_id: str = ""
    link_signing_retired_secrets: dict[str, SecretStr] = Field(default_factory=dict)

    # Standard OpenTelemetry variable names, so compose can point the same code at Jaeger (otlp).
    otel_traces_exporter: str = Field(default="none", alias="OTEL_TRACES_EXPORTER")
    otel_service_name: str = Field(default="", alias="OTEL_SERVICE_NAME")
    otel_traces_sampler_ratio: float = Field(
        default=1.0,
        ge=0.0,
        le=1.0,
        alias="OTEL_TRACES_SAMPLER_ARG",
        description="The share of new traces recorded (parent-based: a request that arrives "
        "in a trace follows its caller's decision), also without an exporter (a span processor "
        "added later still gets them); 0 records none, while trace ids still reach logs and "
        "the next service.",
    )

    metrics_port: int | None = Field(
        default=None,
        description="When set, Prometheus metrics are served on this port of `metrics_host` "
        "(a listener of their own) instead of at `/metrics` on the service's port.",
    )
    # Loopback by default: metrics are for the operator's scraper, not for the network.
    metrics_host: str = "127.0.0.1"

    log_level: str = "INFO"
    log_json: bool = True
    # A warning or error of one kind (logger, level, message template) of the Kafka client,
    # FastStream or the platform is logged once, then at most once per interval with a count of
    # the ones held back, so an outage cannot flood the logs. 0 logs every one.
    log_repeat_interval_seconds: float = Field(default=30.0, ge=0)

    outbox_batch_size: int = 200
    outbox_poll_interval_seconds: float = 1.0
    # A batch whose acks take longer turns the relay's state to `broker_unavailable`.
    outbox_stall_after_seconds: float = Field(default=5.0, gt=0)
    # How often the relay counts its unpublished records for /metrics and /readyz.
    outbox_backlog_sample_seconds: float = Field(default=5.0, gt=0)
    # One replica of a service relays its outbox at a time, holding a lease it renews with every
    # pass and batch; when it stops renewing (killed, hung), another takes over after this long.
    outbox_relay_lease_seconds: float = Field(default=15.0, gt=0)
    # How often a process that consumes asks Kafka for its groups' lag and its dead-letter
    # topics' depth (/metrics, /readyz); 0 never does.
    consumer_lag_sample_seconds: float = Field(default=15.0, ge=0)
    # How often a service reads the figures it samples from its own collections for /metrics
    # (imports in progress, broadcasts sending); 0 never does.
    metrics_sample_seconds: float = Field(default=15.0, ge=0)
    # From SIGTERM to a closed process, whatever Kafka does: under docker compose's 10 s and the
    # devstack's 15 s before SIGKILL. What the relay had not marked sent stays in the outbox.
    shutdown_grace_seconds: float = Field(default=8.0, gt=0)
    # False runs a replica that serves HTTP and its workers (sequence steps, deliveries, the
    # outbox relay) without joining any consumer group: workers scale past the topics'
    # partition counts, which cap a group's useful members, and such a replica starts and
    # stops without rebalancing every group of its service.
    kafka_consumers_enabled: bool = True
    consumer_max_attempts: int = 3
    consumer_retry_backoff_seconds: float = 0.2
    # A subscriber applies at most this many fetched records in one transaction, and waits this
    # long for records when none are buffered (docs/architecture.md, "Idempotent, at-least-once
    # consumers"; measured in docs/performance.md).
    consumer_batch_max_records: int = Field(default=500, ge=1, le=10_000)
    consumer_batch_timeout_ms: int = Field(default=100, gt=0)
    readiness_timeout_seconds: float = 2.0
    # Every MongoDB operation (each statement, each cursor batch, each commit) gives up after
    # this long, so no request or worker waits forever on a database that stopped answering.
    mongodb_operation_timeout_seconds: float = Field(default=30.0, gt=0)
    # Allocations between collections of CPython's youngest generation (its default is 700).
    # Handling a batch allocates many short-lived containers, and at 700 the collector ran so
    # often that it took about a fifth of a broadcast's CPU; reference counting frees nearly
    # all of them anyway. 0 leaves the interpreter's setting alone.
    gc_young_threshold: int = Field(default=50_000, ge=0)

    @property
    def database_name(self) -> str:
        """The MongoDB database this service owns."""
        return self.mongodb_database or f"crm_{self.service_name.replace('-', '_')}"

    @property
    def token_audience(self) -> str:
        """The `aud` of the internal tokens this service accepts (and the gateway mints for it)."""
        return self.internal_token_audience or self.service_name

    @property
    def consumer_group(self) -> str:
        """The Kafka consumer group of this service: one per service, shared by its replicas."""
        return f"{self.kafka_group_prefix}.{self.service_name}"

    @property
    def telemetry_service_name(self) -> str:
        """The service name traces carry."""
        return self.otel_service_name or self.service_name

    def signed_links(self) -> SignedLinks:
        """The link signer of these settings: the current key and the retired ones."""
        return SignedLinks(
            self.link_signing_secret.get_secret_value(),
            key_id=self.link_signing_key_id,
            retired_secrets={
                key_id: secret.get_secret_value()
                for key_id, secret in self.link_signing_retired_secrets.items()
            },
        )
