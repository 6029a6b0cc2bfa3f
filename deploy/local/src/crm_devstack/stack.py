"""The local stack's composition: which infrastructure and service processes run, and how wired."""

from __future__ import annotations

import functools
import json
import os
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict
from urllib.parse import urlsplit

from crm_shared import generate_internal_key_pair
from crm_shared.bootstrap import SERVER_KEEP_ALIVE_SECONDS

from .config import GATEWAY_METRICS, SERVICE_PORT_FIELDS, StackConfig
from .infra import (
    LOCALHOST,
    AtsSimulator,
    InfraComponent,
    KafkaBroker,
    SmtpSink,
    Zipkin,
    free_ports,
    http_ok,
)
from .keycloak import CLIENT_ID as KEYCLOAK_CLIENT_ID
from .keycloak import DEMO_TENANT as KEYCLOAK_DEMO_TENANT
from .keycloak import Keycloak
from .processes import ManagedProcess
from .servers import rust_server_binary, stack_database_server

# The local stack's tenants and development bearer tokens (documented in the README). They exist
# only here: production gateways have no DEV_TOKENS and authenticate through OIDC / API keys.
DEV_TENANTS: dict[str, dict[str, str]] = {
    "acme": {"name": "Acme Talent (demo)", "community_key": "acme-careers"},
    "globex": {"name": "Globex Recruiting", "community_key": "globex-careers"},
}


class DevToken(TypedDict):
    """Who a development bearer token stands for (the gateway's DEV_TOKENS format)."""

    tenant_id: str
    user_id: str
    roles: list[str]


DEV_TOKENS: dict[str, DevToken] = {
    "dev-acme-admin": {"tenant_id": "acme", "user_id": "alice.admin", "roles": ["admin"]},
    "dev-acme-recruiter": {
        "tenant_id": "acme",
        "user_id": "rita.recruiter",
        "roles": ["recruiter"],
    },
    "dev-acme-marketer": {"tenant_id": "acme", "user_id": "mia.marketer", "roles": ["marketer"]},
    "dev-acme-coordinator": {
        "tenant_id": "acme",
        "user_id": "cole.coordinator",
        "roles": ["coordinator"],
    },
    "dev-acme-viewer": {"tenant_id": "acme", "user_id": "vic.viewer", "roles": ["viewer"]},
    "dev-globex-recruiter": {
        "tenant_id": "globex",
        "user_id": "gus.recruiter",
        "roles": ["recruiter"],
    },
}

# How many of the demo's people the simulated ATS accounts know from past applications.
DEMO_KNOWN_PEOPLE = 60
# Past applications in each simulated ATS account, by the stack's database server (unless
# CRM_STACK_ATS_SIMULATOR_APPLICATIONS says): the Python server imports 2000 in over 10 minutes.
RUST_SERVER_APPLICATIONS = 2000
PYTHON_SERVER_APPLICATIONS = 500
# The organisation the console's sign-in page suggests: the demo tenant.
DEMO_CONSOLE_TENANT = "acme"
# Environment variable through which the gateway finds each backend service.
GATEWAY_UPSTREAM_VARS: dict[str, str] = {
    "candidates": "CANDIDATES_URL",
    "campaigns": "CAMPAIGNS_URL",
    "events": "EVENTS_URL",
    "ats-sync": "ATS_SYNC_URL",
    "analytics": "ANALYTICS_URL",
}


def address_port(address: str) -> int:
    """The port of `host:port` or of a URL (`mongodb://host:port/...`)."""
    port = urlsplit(address if "//" in address else f"//{address}").port
    if port is None:
        raise ValueError(f"no port in {address!r}")
    return port


def services_config(
    *,
    bootstrap_servers: str,
    mongodb_uri: str,
    smtp_port: int,
    run_dir: Path,
    kafka_group_prefix: str,
    replicas: int = 1,
) -> StackConfig:
    """The config of a stack's services (and Zipkin) on free ports, against a broker, database
    and SMTP sink that run already (a test session's, a benchmark's), with `replicas` processes
    of each service."""
    extra = replicas - 1
    # One draw: ports drawn apart may repeat, none being bound yet.
    ports = free_ports(9 + extra * (len(SERVICE_PORT_FIELDS) + 1))
    zipkin, metrics, gateway, candidates, campaigns, events, ats_sync, analytics, console = ports[
        :9
    ]
    spare = ports[9:]
    extra_replica_ports = {
        name: spare[index * extra : (index + 1) * extra]
        for index, name in enumerate([*SERVICE_PORT_FIELDS, GATEWAY_METRICS])
    }
    return StackConfig(
        kafka_port=address_port(bootstrap_servers.split(",")[0]),
        mongodb_port=address_port(mongodb_uri),
        smtp_port=smtp_port,
        zipkin_port=zipkin,
        gateway_port=gateway,
        candidates_port=candidates,
        campaigns_port=campaigns,
        events_port=events,
        ats_sync_port=ats_sync,
        analytics_port=analytics,
        console_port=console,
        gateway_metrics_port=metrics,
        run_dir=run_dir,
        kafka_group_prefix=kafka_group_prefix,
        replicas=replicas,
        extra_replica_ports=extra_replica_ports if extra else {},
    )


def infra_components(config: StackConfig) -> list[InfraComponent]:
    """The infrastructure in start order: Kafka, SecantusDB, SMTP sink, the simulated ATS
    accounts, Zipkin."""
    run_dir = config.run_dir
    return [
        KafkaBroker(
            run_dir, config.kafka_port, config.kafka_controller_port, cache_dir=config.cache_dir
        ),
        stack_database_server(config),
        SmtpSink(run_dir, config.smtp_port, config.smtp_http_port),
        *ats_simulators(config),
        Zipkin(run_dir, config.zipkin_port, cache_dir=config.cache_dir),
    ]


def ats_simulators(config: StackConfig) -> list[AtsSimulator]:
    """The simulated Greenhouse and Lever accounts the demo connects; some of their past
    applicants are the demo's people (the first `DEMO_KNOWN_PEOPLE` it loads)."""
    applications = config.ats_simulator_applications or (
        RUST_SERVER_APPLICATIONS
        if config.database_server != "python" and rust_server_binary(config.cache_dir)
        else PYTHON_SERVER_APPLICATIONS
    )
    return [
        AtsSimulator(
            config.run_dir,
            provider,
            port,
            applications=applications,
            known_people=DEMO_KNOWN_PEOPLE,
        )
        for provider, port in (
            ("greenhouse", config.greenhouse_simulator_port),
            ("lever", config.lever_simulator_port),
        )
    ]


def identity_provider(config: StackConfig) -> Keycloak:
    """The stack's Keycloak with the demo realm (started in the background, optional)."""
    return Keycloak(config.run_dir, config.keycloak_port, cache_dir=config.cache_dir)


def gateway_oidc(config: StackConfig) -> dict[str, Any]:
    """The gateway's `OIDC` setting: the demo tenant signs in through the stack's Keycloak.

    A bootstrap, as `TENANTS` is: the gateway stores it as the tenant's sign-in settings with
    just-in-time provisioning and roles from the token (the realm roles, named as ours), so
    the realm file alone says who may sign in with which role and nothing is seeded through
    the API. `tenant_claim`: the realm's users carry `tenant_id`."""
    return {
        "tenants": [
            {
                "tenant_id": KEYCLOAK_DEMO_TENANT,
                "issuer": identity_provider(config).issuer,
                "audience": KEYCLOAK_CLIENT_ID,
                "tenant_claim": "tenant_id",
            }
        ]
    }


def persisted_secret(run_dir: Path, name: str) -> str:
    """A random secret generated on first use and kept in the run dir, so restarts agree."""
    path = run_dir / "secrets" / name
    if path.is_file():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret + "\n")
    return secret


@dataclass(frozen=True)
class InternalTokenKeyFiles:
    """The stack's internal-token key pair as PEM files: the private one for the gateway only."""

    private_key: Path
    public_key: Path


def internal_token_keys(run_dir: Path) -> InternalTokenKeyFiles:
    """The Ed25519 key pair the gateway signs internal tokens with, generated on first use and
    kept in the run dir (the private key readable by its owner only), so restarts agree."""
    directory = run_dir / "secrets"
    files = InternalTokenKeyFiles(
        directory / "internal_token_private_key.pem", directory / "internal_token_public_key.pem"
    )
    if files.private_key.is_file() and files.public_key.is_file():
        return files
    directory.mkdir(parents=True, exist_ok=True)
    pair = generate_internal_key_pair()
    fd = os.open(files.private_key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(pair.private_pem)
    files.public_key.write_text(pair.public_pem)
    return files


def service_module(service: str) -> str:
    """The importable package of a service, e.g. ats-sync -> crm_ats_sync."""
    return f"crm_{service.replace('-', '_')}"


def service_url(config: StackConfig, service: str) -> str:
    """Base URL of one service."""
    return f"http://{LOCALHOST}:{config.service_ports[service]}"


def replica_url(config: StackConfig, service: str, replica: int) -> str:
    """Base URL of a service's replica `replica` (0: the first), or of its first when it has
    fewer."""
    ports = config.replica_ports(service)
    return f"http://{LOCALHOST}:{ports[min(replica, len(ports) - 1)]}"


def service_process(
    service: str,
    port: int,
    run_dir: Path,
    env: dict[str, str],
    *,
    extra_ports: tuple[int, ...] = (),
    module: str | None = None,
) -> ManagedProcess:
    """One service as production runs it: uvicorn on its `create_app` factory, ready once its
    `/readyz` answers. `extra_ports` are other ports it listens on (the gateway's metrics);
    `module` is the service's package when `service` names one of its replicas."""
    return ManagedProcess(
        name=service,
        argv=[
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            f"{module or service_module(service)}.main:create_app",
            "--host",
            LOCALHOST,
            "--port",
            str(port),
            "--timeout-keep-alive",
            str(SERVER_KEEP_ALIVE_SECONDS),
            # uvicorn believes X-Forwarded-For from loopback by default; only the
            # gateway's TRUSTED_PROXIES may say who the client is.
            "--no-proxy-headers",
        ],
        run_dir=run_dir,
        env=env,
        ports=(port, *extra_ports),
        readiness=functools.partial(http_ok, f"http://{LOCALHOST}:{port}/readyz"),
        ready_timeout=60,
    )


def service_processes(config: StackConfig) -> list[ManagedProcess]:
    """One uvicorn process per service, wired to the stack's infrastructure; gateway first."""
    # Each service's composition root is `crm_<service>.main:create_app`, an app factory.
    keys = internal_token_keys(config.run_dir)
    shared_env = {
        # Development tokens, no OIDC issuer required: the local stack only (docs/security.md).
        "ENVIRONMENT": "development",
        "KAFKA_BOOTSTRAP_SERVERS": config.bootstrap_servers,
        "KAFKA_GROUP_PREFIX": config.kafka_group_prefix,
        "MONGODB_URI": config.mongodb_uri,
        "INTERNAL_TOKEN_PUBLIC_KEY": str(keys.public_key),
        "LINK_SIGNING_SECRET": persisted_secret(config.run_dir, "link_signing_secret"),
        "OTEL_TRACES_EXPORTER": "zipkin",
        "OTEL_EXPORTER_ZIPKIN_ENDPOINT": f"http://{LOCALHOST}:{config.zipkin_port}/api/v2/spans",
        "SMTP_HOST": LOCALHOST,
        "SMTP_PORT": str(config.smtp_port),
        # Links in mails and webhooks point at the gateway, the only public entry point.
        "PUBLIC_BASE_URL": service_url(config, "gateway"),
        # Export spans every half second so the journey shows up in the trace UI at once.
        "OTEL_BSP_SCHEDULE_DELAY": "500",
        "PYTHONUNBUFFERED": "1",
    }
    # Secrets only the owning service may hold.
    own_env = {
        "campaigns": {
            "TRACKING_SECRET": persisted_secret(config.run_dir, "tracking_secret"),
            # The demo and the e2e journey open mail the moment it arrives, which the timing
            # rule would take for a security scanner.
            "MACHINE_FETCH_WINDOW_SECONDS": "0",
        },
        # Connection secrets are sealed under data keys this key wraps (docs/ats.md).
        "ats-sync": {
            "ATS_SECRET_KEYS": f"dev:{persisted_secret(config.run_dir, 'ats_secret_key')}"
        },
        # Import files wait on local disk beside the stack's other data, never in the database.
        "candidates": {"UPLOAD_DIR": str(config.run_dir / "uploads")},
        # Only the gateway can mint internal tokens.
        "gateway": {
            "INTERNAL_TOKEN_PRIVATE_KEY": str(keys.private_key),
            "CONSOLE_URL": service_url(config, "console"),
        },
        # The console calls the public API through the gateway, like any client.
        "console": {
            "GATEWAY_URL": service_url(config, "gateway"),
            "DEFAULT_TENANT": DEMO_CONSOLE_TENANT,
        },
    }
    processes = []
    metrics_ports = config.replica_ports(GATEWAY_METRICS)
    for service in config.service_ports:
        env = {
            **shared_env,
            "SERVICE_NAME": service,
            "OTEL_SERVICE_NAME": service,
            "MONGODB_DATABASE": service_module(service),
            **own_env.get(service, {}),
        }
        if service == "gateway":
            env |= {
                "TENANTS": json.dumps(DEV_TENANTS),
                "DEV_TOKENS": json.dumps(DEV_TOKENS),
                # Set whether or not Keycloak runs: without it a browser sign-in is a 503
                # `identity-provider-unavailable`, and development tokens still work.
                "OIDC": json.dumps(gateway_oidc(config)),
            }
        for replica, port in enumerate(config.replica_ports(service)):
            replica_env = dict(env)
            extra_ports: tuple[int, ...] = ()
            if service == "gateway":
                replica_env["METRICS_PORT"] = str(metrics_ports[replica])
                extra_ports = (metrics_ports[replica],)
                # Gateway k sends each service's requests to that service's replica k, so
                # clients spread over the gateways spread over every service's replicas, as a
                # cluster's Services do (one gateway and one replica each: all to the first).
                replica_env |= {
                    var: replica_url(config, name, replica)
                    for name, var in GATEWAY_UPSTREAM_VARS.items()
                }
            processes.append(
                service_process(
                    replica_name(service, replica),
                    port,
                    config.run_dir,
                    replica_env,
                    extra_ports=extra_ports,
                    module=service_module(service),
                )
            )
    return processes


def replica_name(service: str, replica: int) -> str:
    """A replica's process name (its log and pid files): the service's, then `<service>-2`..."""
    return service if replica == 0 else f"{service}-{replica + 1}"
