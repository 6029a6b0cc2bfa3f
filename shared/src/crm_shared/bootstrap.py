"""Service bootstrap: what every service's `create_app(settings)` is built from.

`build_platform` creates the connections (MongoDB, the FastStream Kafka broker, the outbox, the
idempotent consumer) without opening them; `create_service_app` wraps them in a FastAPI app whose
lifespan opens and closes them, and adds the probes, metrics, problem+json errors and tracing.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pymongo
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from faststream.kafka import KafkaBroker, KafkaRouter
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    start_http_server,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crm_shared.auth import InternalTokenVerifier, load_public_key
from crm_shared.consumer import BatchLimits, IdempotentConsumer
from crm_shared.consumer_lag import ConsumerLagSampler
from crm_shared.errors import install_problem_docs, install_problem_handlers, problem_response
from crm_shared.json_bodies import RejectUnpairedSurrogates
from crm_shared.kafka_backoff import install_reconnect_backoff
from crm_shared.leases import NamedLease
from crm_shared.metrics import DatabaseCommandMetrics, PeriodicSampler
from crm_shared.mongo import Database, MongoClient, create_mongo_client, service_database
from crm_shared.outbox import OUTBOX_RELAY_LEASE, Outbox, OutboxRelay
from crm_shared.pages import PageSecurityHeaders, mount_swagger_assets, swagger_ui_page
from crm_shared.permissions import install_permission_docs, public_operation
from crm_shared.record_producer import RecordProducer
from crm_shared.server_spans import instrument_app
from crm_shared.settings import ServiceSettings
from crm_shared.telemetry import configure_logging, configure_tracing, redact_span_urls
from crm_shared.worker import cancel_within

StartupHook = Callable[[], Awaitable[None]]

# How long a service's HTTP server keeps an idle connection open (uvicorn's --timeout-keep-alive).
# It must outlast every client's pooled-connection idle time (the gateway's upstream pool: 30 s;
# httpx's default: 5 s; cloud load balancers: 60 s). Otherwise the server may close a connection
# at the moment a client reuses it, and that request fails with a reset instead of a response.
# uvicorn's own default (5 s) equals httpx's, which is exactly that race.
SERVER_KEEP_ALIVE_SECONDS = 75
# The probes are not traced. OpenTelemetry searches each pattern anywhere in the request URL
# (`scheme://host/path`), so each is anchored: a bare "/metrics" would also leave untraced any
# request whose path merely contains it, such as a refused `/api/v1/candidates/..%2fmetrics`.
UNTRACED_URLS = ",".join(rf"^[a-z]+://[^/]*/{probe}$" for probe in ("healthz", "readyz", "metrics"))

logger = logging.getLogger(__name__)


@dataclass
class Platform:
    """The connections and platform components one service process runs with."""

    settings: ServiceSettings
    registry: CollectorRegistry
    # None only for the gateway, which mints internal tokens and serves no route that takes one.
    internal_token_verifier: InternalTokenVerifier | None = None
    mongo: MongoClient | None = None
    database: Database | None = None
    broker: KafkaBroker | None = None
    outbox: Outbox | None = None
    relay: OutboxRelay | None = None
    # The relay's own producer (`crm_shared.record_producer`): FastStream's publish costs ten
    # times as much a record.
    relay_producer: RecordProducer | None = None
    consumer: IdempotentConsumer | None = None
    consumer_lag: ConsumerLagSampler | None = None
    # Figures a service samples from its own collections (see `crm_shared.metrics`).
    samplers: list[PeriodicSampler] = field(default_factory=list)
    startup_hooks: list[StartupHook] = field(default_factory=list)
    # Whether the service is unready while its database is unreachable: false for one that
    # serves most requests without it (the gateway needs it only for idempotency keys).
    ready_needs_database: bool = True
    # The relay is started in the background once MongoDB and Kafka answer, not at start-up
    # (`build_platform(relays_outbox=True)`); whether it was, and the task starting it.
    relay_in_background: bool = False
    relay_started: bool = False
    relay_starter: asyncio.Task[None] | None = None
    stopping: bool = False

    def require_database(self) -> Database:
        """The service's database; a composition error if the service was built without one."""
        if self.database is None:
            raise RuntimeError(f"{self.settings.service_name} was built without MongoDB")
        return self.database

    def require_mongo(self) -> MongoClient:
        """The service's MongoDB client."""
        if self.mongo is None:
            raise RuntimeError(f"{self.settings.service_name} was built without MongoDB")
        return self.mongo

    def require_outbox(self) -> Outbox:
        """The service's outbox."""
        if self.outbox is None:
            raise RuntimeError(f"{self.settings.service_name} was built without an outbox")
        return self.outbox

    def require_consumer(self) -> IdempotentConsumer:
        """The service's idempotent consumer."""
        if self.consumer is None:
            raise RuntimeError(f"{self.settings.service_name} was built without a consumer")
        return self.consumer

    def include_kafka_router(self, router: KafkaRouter) -> None:
        """Adds a service's subscribers to the broker."""
        if self.broker is None:
            raise RuntimeError(f"{self.settings.service_name} was built without Kafka")
        if self.settings.kafka_consumers_enabled:
            self.broker.include_router(router)


def build_platform(
    settings: ServiceSettings,
    *,
    uses_mongo: bool = True,
    uses_kafka: bool = True,
    ready_needs_database: bool = True,
    verifies_internal_tokens: bool = True,
    relays_outbox: bool = False,
) -> Platform:
    """Creates (but does not open) the service's connections and platform components.

    A service without Kafka's consumers (`uses_kafka=False`) that publishes events passes
    `relays_outbox`: it gets the outbox and its relay, started in the background once MongoDB
    and Kafka answer (`_start_relay_when_reachable`), and no `kafka` readiness check.

    A service that verifies internal tokens refuses to start (`ValueError`) without the
    gateway's public key: it could not tell the gateway's calls from anyone else's."""
    verifier = (
        InternalTokenVerifier(
            load_public_key(settings.internal_token_public_key), settings.token_audience
        )
        if verifies_internal_tokens
        else None
    )
    configure_logging(settings)
    tracer_provider = configure_tracing(settings)
    registry = CollectorRegistry()
    platform = Platform(
        settings=settings,
        registry=registry,
        internal_token_verifier=verifier,
        ready_needs_database=ready_needs_database,
    )
    if uses_mongo:
        platform.mongo = create_mongo_client(settings, listeners=[DatabaseCommandMetrics(registry)])
        platform.database = service_database(platform.mongo, settings.database_name)
    if uses_kafka:
        install_reconnect_backoff(
            settings.kafka_reconnect_backoff_ms, settings.kafka_reconnect_backoff_max_ms
        )
        platform.broker = KafkaBroker(
            settings.kafka_bootstrap_servers,
            client_id=settings.service_name,
            enable_idempotence=True,
            acks="all",
            allow_auto_create_topics=False,
            retry_backoff_ms=settings.kafka_retry_backoff_ms,
            # FastStream's default (15 s) for in-flight handlers alone would outlast the grace.
            graceful_timeout=settings.shutdown_grace_seconds / 2,
            middlewares=(
                KafkaTelemetryMiddleware(tracer_provider=tracer_provider),
                KafkaPrometheusMiddleware(registry=registry, app_name=settings.service_name),
            ),
            logger=logging.getLogger(f"faststream.{settings.service_name}"),
            log_level=logging.DEBUG,
        )
    if platform.database is not None and platform.broker is None and relays_outbox:
        install_reconnect_backoff(
            settings.kafka_reconnect_backoff_ms, settings.kafka_reconnect_backoff_max_ms
        )
        _build_outbox(platform, platform.database)
        platform.relay_in_background = True
    if platform.database is not None and platform.broker is not None:
        broker = platform.broker
        outbox = _build_outbox(platform, platform.database)
        platform.consumer = IdempotentConsumer(
            client=platform.require_mongo(),
            database=platform.database,
            broker=broker,
            group_id=settings.consumer_group,
            max_attempts=settings.consumer_max_attempts,
            retry_backoff_seconds=settings.consumer_retry_backoff_seconds,
            batch=BatchLimits(
                max_records=settings.consumer_batch_max_records,
                timeout_ms=settings.consumer_batch_timeout_ms,
            ),
            registry=registry,
        )
        platform.consumer.after_commit.append(outbox.notify_committed)
        if settings.kafka_consumers_enabled and settings.consumer_lag_sample_seconds > 0:
            consumer = platform.consumer
            platform.consumer_lag = ConsumerLagSampler(
                settings.kafka_bootstrap_servers,
                lambda: consumer.groups,
                lambda: consumer.dead_letter_topics,
                every_seconds=settings.consumer_lag_sample_seconds,
                client_id=settings.service_name,
                registry=registry,
            )
        platform.startup_hooks.extend((outbox.ensure_indexes, platform.consumer.ensure_indexes))
    return platform


def _build_outbox(platform: Platform, database: Database) -> Outbox:
    """The service's outbox and its relay, with the relay's own Kafka producer."""
    settings = platform.settings
    platform.outbox = Outbox(database, source=settings.service_name)
    platform.relay_producer = RecordProducer(
        settings.kafka_bootstrap_servers,
        client_id=settings.service_name,
        retry_backoff_ms=settings.kafka_retry_backoff_ms,
    )
    platform.relay = OutboxRelay(
        platform.outbox,
        platform.relay_producer.send,
        batch_size=settings.outbox_batch_size,
        poll_interval_seconds=settings.outbox_poll_interval_seconds,
        stall_after_seconds=settings.outbox_stall_after_seconds,
        backlog_sample_seconds=settings.outbox_backlog_sample_seconds,
        lease=NamedLease(
            database,
            OUTBOX_RELAY_LEASE,
            owner=f"{settings.service_name}-{socket.gethostname()}-{uuid.uuid4().hex[:12]}",
            lease=timedelta(seconds=settings.outbox_relay_lease_seconds),
        ),
        registry=platform.registry,
    )
    return platform.outbox


async def _start_relay_when_reachable(platform: Platform) -> None:
    """Creates the outbox's indexes, connects the relay's producer and starts the relay, each
    retried with backoff until MongoDB and Kafka answer: a service that only publishes (the
    gateway) starts and serves without either, its events waiting in the outbox."""
    settings = platform.settings
    outbox, producer, relay = platform.outbox, platform.relay_producer, platform.relay
    if outbox is None or producer is None or relay is None:
        raise RuntimeError(f"{settings.service_name} was built without an outbox relay")
    delay = settings.kafka_reconnect_backoff_ms / 1000
    indexed = False
    while True:
        try:
            if not indexed:
                await outbox.ensure_indexes()
                indexed = True
            await producer.start()
            break
        except asyncio.CancelledError:
            raise
        except Exception as error:
            logger.warning(
                "%s: outbox relay not started yet, retrying in %.1f s: %r",
                settings.service_name,
                delay,
                error,
            )
        if platform.stopping:
            # A cancel swallowed by a client's `wait_for` (Python 3.11) ends the retries too.
            raise asyncio.CancelledError
        await asyncio.sleep(delay)
        delay = min(delay * 2, settings.kafka_reconnect_backoff_max_ms / 1000)
    if platform.stopping:
        raise asyncio.CancelledError  # the shutdown stops the producer
    relay.start()
    platform.relay_started = True


def tune_garbage_collector(young_threshold: int) -> None:
    """Collects the youngest generation every `young_threshold` allocations (0: unchanged) and
    moves what start-up allocated out of the collector's way (`gc.freeze`): modules, settings
    and connections live as long as the process, so no collection needs to look at them."""
    if young_threshold:
        _, middle, oldest = gc.get_threshold()
        gc.set_threshold(young_threshold, middle, oldest)
    gc.collect()  # frozen garbage would never be freed
    gc.freeze()


@asynccontextmanager
async def _metrics_listener(platform: Platform) -> AsyncIterator[None]:
    port = platform.settings.metrics_port
    if port is None:
        yield
        return
    server, thread = start_http_server(
        port, addr=platform.settings.metrics_host, registry=platform.registry
    )
    logger.info("metrics on %s:%s", platform.settings.metrics_host, server.server_port)
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@asynccontextmanager
async def _platform_lifespan(platform: Platform) -> AsyncIterator[None]:
    for hook in platform.startup_hooks:
        await hook()
    tune_garbage_collector(platform.settings.gc_young_threshold)
    if platform.broker is not None:
        await platform.broker.start()
    if platform.relay_producer is not None and not platform.relay_in_background:
        await platform.relay_producer.start()
    if platform.relay is not None and platform.relay_in_background:
        platform.relay_starter = asyncio.create_task(
            _start_relay_when_reachable(platform), name="outbox-relay-start"
        )
    elif platform.relay is not None:
        platform.relay.start()
        platform.relay_started = True
    if platform.consumer_lag is not None:
        platform.consumer_lag.start()
    for sampler in platform.samplers:
        sampler.start()
    logger.info("%s started", platform.settings.service_name)
    try:
        yield
    finally:
        await _stop_platform(platform)


async def _stop_platform(platform: Platform) -> None:
    """Stops the relay, then Kafka's clients, then MongoDB, within the shutdown grace period.

    With Kafka down, the producer's stop waits for its unsent batches to expire (its request
    timeout, 40 s) and the subscribers for their handlers: the process was killed first. Past
    the grace period the clients are abandoned instead; every record the relay had not marked
    sent is still in the outbox, and the next start publishes it."""
    settings = platform.settings
    deadline = time.monotonic() + settings.shutdown_grace_seconds
    platform.stopping = True
    if platform.relay_starter is not None:
        # Bounded: a cancel swallowed by the Kafka client's `wait_for` (Python 3.11) would
        # otherwise keep the starter retrying and the shutdown waiting on it.
        await cancel_within([platform.relay_starter], 5, "outbox relay start")
        platform.relay_starter = None
    if platform.relay is not None and platform.relay_started:
        await platform.relay.stop()
        platform.relay_started = False
    if platform.consumer_lag is not None:
        await platform.consumer_lag.stop()
    for sampler in platform.samplers:
        await sampler.stop()
    stopping = {
        asyncio.create_task(client.stop(), name=f"kafka-stop-{name}")
        for name, client in (("broker", platform.broker), ("relay", platform.relay_producer))
        if client is not None
    }
    if stopping:
        # asyncio.wait, not wait_for: past its timeout wait_for still waits for a stop that
        # ignores the cancel, and the whole shutdown hangs.
        _, pending = await asyncio.wait(stopping, timeout=max(0.1, deadline - time.monotonic()))
        for task in pending:
            task.cancel()
        if pending:
            logger.warning(
                "%s: Kafka clients did not stop within the %.0f s grace period; abandoned them "
                "(unpublished outbox records stay for the next start)",
                settings.service_name,
                settings.shutdown_grace_seconds,
            )
    if platform.mongo is not None:
        # Bounded too: after a cancel PyMongo's async pool can be left with a lock it believes
        # unheld ("Lock is not acquired", seen once in CI while the relay's start retried
        # against no database), and its close then never returns.
        closing = asyncio.create_task(platform.mongo.close(), name="mongo-close")
        _, pending = await asyncio.wait({closing}, timeout=max(1.0, deadline - time.monotonic()))
        if pending:
            closing.cancel()
            logger.warning(
                "%s: MongoDB's client did not close within the grace period; abandoned it",
                settings.service_name,
            )
    logger.info("%s stopped", settings.service_name)


async def readiness_checks(platform: Platform) -> dict[str, str]:
    """The state of each dependency the service needs: `ok` or the reason it is not."""
    timeout = platform.settings.readiness_timeout_seconds
    checks: dict[str, str] = {}
    if platform.database is not None and platform.ready_needs_database:
        try:
            with pymongo.timeout(timeout):
                await platform.database.command("ping")
            checks["mongodb"] = "ok"
        except Exception as error:
            checks["mongodb"] = f"unavailable: {type(error).__name__}"
    if platform.broker is not None:
        try:
            reachable = await platform.broker.ping(timeout=timeout)
            checks["kafka"] = "ok" if reachable else "unavailable"
        except Exception as error:
            checks["kafka"] = f"unavailable: {type(error).__name__}"
    return checks


def _probe_router(platform: Platform, *, metrics: bool) -> APIRouter:
    probes = APIRouter(include_in_schema=False, dependencies=[public_operation()])

    @probes.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": platform.settings.service_name}

    @probes.get("/readyz")
    async def readyz(request: Request) -> Response:
        checks = await readiness_checks(platform)
        # The relay's state is reported, never a reason to be unready: requests still commit
        # their events to the outbox, and taking the service out of rotation would turn a
        # Kafka outage into an API outage without helping the relay (docs/reliability.md).
        detail: dict[str, Any] = {}
        if platform.relay is not None:
            detail["outbox_relay"] = platform.relay.health().as_json()
        if platform.consumer_lag is not None:
            detail["consumers"] = platform.consumer_lag.latest.as_json()
        if all(state == "ok" for state in checks.values()):
            return JSONResponse({"status": "ready", "checks": checks, **detail})
        return problem_response(
            503,
            "a dependency is unavailable",
            instance=request.url.path,
            problem_type="not-ready",
            extensions={"checks": checks, **detail},
        )

    if metrics:

        @probes.get("/metrics")
        async def metrics_endpoint() -> Response:
            return Response(generate_latest(platform.registry), media_type=CONTENT_TYPE_LATEST)

    return probes


class _HttpMetricsMiddleware:
    """Counts and times every HTTP request by method, route template and status.

    A plain ASGI middleware: Starlette's `BaseHTTPMiddleware` runs the app in a task group and
    passes the body through a memory stream, which cost every request more than the count."""

    def __init__(self, app: ASGIApp, registry: CollectorRegistry) -> None:
        self.app = app
        self._requests = Counter(
            "crm_http_requests",
            "HTTP requests served",
            ["method", "route", "status"],
            registry=registry,
        )
        self._latency = Histogram(
            "crm_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route"],
            registry=registry,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        await self.app(scope, receive, send_noting_status)
        # The router put the matched route into the scope on its way in.
        route = getattr(scope.get("route"), "path", "unmatched")
        method = str(scope["method"])
        self._requests.labels(method, route, str(status)).inc()
        self._latency.labels(method, route).observe(time.perf_counter() - started)


def create_service_app(
    platform: Platform,
    *,
    title: str,
    description: str,
    routers: Sequence[APIRouter] = (),
    extra_lifespan: Callable[[], AsyncIterator[None]] | None = None,
    serve_openapi: bool = True,
    public_metrics: bool = True,
) -> FastAPI:
    """The service's FastAPI app with probes, metrics, problem+json errors, tracing and lifespan.

    Metrics are at `/metrics` of the app when `public_metrics` holds and no `METRICS_PORT` is
    set; otherwise only on the metrics listener (if a port is set). The gateway, whose port is
    the public one, passes `public_metrics=False`."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with _platform_lifespan(platform), _metrics_listener(platform):
            if extra_lifespan is None:
                yield
            else:
                async with asynccontextmanager(extra_lifespan)():
                    yield

    # A service that serves its own documentation routes (the gateway's combined one) opts out.
    app = FastAPI(
        title=title,
        description=description,
        version="1.0.0",
        lifespan=lifespan,
        openapi_url="/openapi.json" if serve_openapi else None,
        # FastAPI's own pages run inline script without a nonce; see `docs` below.
        docs_url=None,
        redoc_url=None,
        # Requests are traced below; FastAPI's own telemetry would only look for that tracing
        # on every request to stand aside.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.platform = platform
    app.state.internal_token_verifier = platform.internal_token_verifier
    install_problem_handlers(app)
    install_problem_docs(app)
    install_permission_docs(app)
    app.add_middleware(_HttpMetricsMiddleware, registry=platform.registry)
    app.add_middleware(PageSecurityHeaders)
    app.add_middleware(RejectUnpairedSurrogates)
    metrics_on_app = public_metrics and platform.settings.metrics_port is None
    app.include_router(_probe_router(platform, metrics=metrics_on_app))
    if serve_openapi:

        @app.get("/docs", include_in_schema=False, dependencies=[public_operation()])
        async def docs() -> Response:
            return swagger_ui_page("/openapi.json", title)

        mount_swagger_assets(app)

    for router in routers:
        app.include_router(router)
    instrument_app(
        app,
        tracer_provider=configure_tracing(platform.settings),
        excluded_urls=UNTRACED_URLS,
        server_request_hook=redact_span_urls,
    )
    return app
