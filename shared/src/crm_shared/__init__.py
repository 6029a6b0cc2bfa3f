"""The recruitment CRM platform library: contracts, outbox, consumer, telemetry, auth, HTTP."""

from crm_shared.auth import (
    CurrentPrincipal,
    InternalTokens,
    InvalidTokenError,
    Principal,
    Role,
    bearer_token,
    current_principal,
    require_roles,
    unauthorized,
)
from crm_shared.bootstrap import Platform, build_platform, create_service_app, readiness_checks
from crm_shared.consumer import (
    DeliveredRecord,
    EventHandler,
    IdempotentConsumer,
    Outcome,
    UndecodableEventError,
    decode_event,
)
from crm_shared.contracts import (
    CANDIDATE_CREATED,
    DEAD_LETTER_SUFFIX,
    TOPICS,
    CandidateCreated,
    EventEnvelope,
    RawEnvelope,
    TopicSpec,
    all_topic_names,
    topic_spec,
    utc_now,
)
from crm_shared.errors import PROBLEM_JSON, ProblemError, install_problem_handlers, problem_response
from crm_shared.mongo import (
    Database,
    Document,
    MongoClient,
    Session,
    create_mongo_client,
    in_transaction,
)
from crm_shared.outbox import Outbox, OutboxRelay
from crm_shared.pagination import MAX_PAGE_SIZE, Page, decode_cursor, encode_cursor
from crm_shared.repository import TenantMismatchError, TenantScopedCollection
from crm_shared.settings import ServiceSettings
from crm_shared.topics import ensure_topics

__all__ = [
    "CANDIDATE_CREATED",
    "DEAD_LETTER_SUFFIX",
    "MAX_PAGE_SIZE",
    "PROBLEM_JSON",
    "TOPICS",
    "CandidateCreated",
    "CurrentPrincipal",
    "Database",
    "DeliveredRecord",
    "Document",
    "EventEnvelope",
    "EventHandler",
    "IdempotentConsumer",
    "InternalTokens",
    "InvalidTokenError",
    "MongoClient",
    "Outbox",
    "OutboxRelay",
    "Outcome",
    "Page",
    "Platform",
    "Principal",
    "ProblemError",
    "RawEnvelope",
    "Role",
    "ServiceSettings",
    "Session",
    "TenantMismatchError",
    "TenantScopedCollection",
    "TopicSpec",
    "UndecodableEventError",
    "all_topic_names",
    "bearer_token",
    "build_platform",
    "create_mongo_client",
    "create_service_app",
    "current_principal",
    "decode_cursor",
    "decode_event",
    "encode_cursor",
    "ensure_topics",
    "in_transaction",
    "install_problem_handlers",
    "problem_response",
    "readiness_checks",
    "require_roles",
    "topic_spec",
    "unauthorized",
    "utc_now",
]
