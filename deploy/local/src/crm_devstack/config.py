"""Ports and directories of the local stack, overridable through CRM_STACK_* variables."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# Service name -> the config field holding its HTTP port; the gateway is the public entry point.
SERVICE_PORT_FIELDS: dict[str, str] = {
    "gateway": "gateway_port",
    "candidates": "candidates_port",
    "campaigns": "campaigns_port",
    "events": "events_port",
    "ats-sync": "ats_sync_port",
    "analytics": "analytics_port",
    "console": "console_port",
}


# The gateway's Prometheus listeners, one per gateway replica, in `StackConfig.replica_ports`.
GATEWAY_METRICS = "gateway-metrics"
# More processes of each service than this would only add rebalancing on two cores.
MAX_REPLICAS = 4

EPHEMERAL_PORT_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
# Where the file cannot be read (not Linux): Linux's default low end, IANA's high end.
FALLBACK_EPHEMERAL_PORT_RANGE = (32768, 65535)


def ephemeral_port_range(source: Path = EPHEMERAL_PORT_RANGE_FILE) -> tuple[int, int]:
    """The kernel's range of local ports for outgoing connections (both ends included).

    A server must not listen inside it: any program's outgoing connection may be given that
    port, and while that connection (or its TIME_WAIT) lasts the server cannot bind it. Kafka
    on 39092 could not start again for minutes because its own clients held the port."""
    try:
        low, high = (int(part) for part in source.read_text().split())
    except (OSError, ValueError):
        return FALLBACK_EPHEMERAL_PORT_RANGE
    return low, high


def repo_root() -> Path:
    """Finds the workspace root (the directory holding deploy/local), falling back to the cwd."""
    for start in (Path(__file__).resolve(), Path.cwd().resolve()):
        for candidate in (start, *start.parents):
            if (candidate / "deploy" / "local" / "pyproject.toml").is_file():
                return candidate
    return Path.cwd()


def default_cache_dir() -> Path:
    """The download cache for broker jars: $CRM_CACHE_DIR or ~/.cache/recruitcrm."""
    configured = os.environ.get("CRM_CACHE_DIR")
    return Path(configured) if configured else Path.home() / ".cache" / "recruitcrm"


def default_run_dir() -> Path:
    """The directory holding the local stack's data, logs and pid files."""
    return repo_root() / ".run" / "local"


class StackConfig(BaseSettings):
    """Where each local component listens and where the stack keeps its state."""

    model_config = SettingsConfigDict(env_prefix="CRM_STACK_", extra="ignore", frozen=True)

    kafka_port: int = 19092
    kafka_controller_port: int = 19093
    mongodb_port: int = 27117
    smtp_port: int = 1025
    smtp_http_port: int = 8025
    # Simulated ATS accounts the demo connects (crm_devstack.ats), with their past applicants.
    greenhouse_simulator_port: int = 8791
    lever_simulator_port: int = 8792
    # None: 2000 with the Rust database server, 500 with the Python one (a fresh machine's),
    # whose single core the 4000 applications' import saturates for over 10 minutes.
    ats_simulator_applications: int | None = None
    zipkin_port: int = 9411
    gateway_port: int = 8000
    candidates_port: int = 8001
    campaigns_port: int = 8002
    events_port: int = 8003
    ats_sync_port: int = 8004
    analytics_port: int = 8005
    console_port: int = 8006
    # The gateway's Prometheus listener (loopback); its public port serves no /metrics.
    gateway_metrics_port: int = 9100
    # The local identity provider (Keycloak, the demo realm): started in the background by `up`.
    keycloak_port: int = 8180
    keycloak_enabled: bool = True
    # Below this much available memory `up` leaves Keycloak out (it takes about 540 MiB).
    keycloak_min_available_mib: int = 768
    kafka_group_prefix: str = "crm"
    # Processes of each service (`crm-stack up --replicas N`). Replica k (from 1) of a service
    # listens on its port plus `replica_port_step` times k, unless `extra_replica_ports` names
    # its ports (the tests' free ports; the gateway's metrics listeners under `gateway-metrics`).
    replicas: int = Field(default=1, ge=1, le=MAX_REPLICAS)
    replica_port_step: int = 100
    extra_replica_ports: dict[str, list[int]] = Field(default_factory=dict)
    run_dir: Path = Field(default_factory=default_run_dir)
    cache_dir: Path = Field(default_factory=default_cache_dir)
    # The Rust SecantusDB server whenever it is built (`make bench-server`), else the Python one.
    database_server: Literal["auto", "rust", "python"] = "auto"

    @property
    def ports(self) -> dict[str, int]:
        """Every port the stack listens on, by its CRM_STACK_* variable."""
        return {
            f"CRM_STACK_{name.upper()}": value
            for name, value in self
            if name.endswith("_port") and isinstance(value, int)
        }

    def ephemeral_port_problems(self, port_range: tuple[int, int] | None = None) -> list[str]:
        """One line per configured port inside the kernel's ephemeral range, saying what to do."""
        low, high = port_range or ephemeral_port_range()
        return [
            f"{variable}={port} is inside the kernel's ephemeral port range {low}-{high} "
            f"({EPHEMERAL_PORT_RANGE_FILE}), where outgoing connections can take it and leave "
            f"the server unable to bind it; choose a port below {low} or above {high}"
            for variable, port in self.ports.items()
            if low <= port <= high
        ]

    @property
    def service_ports(self) -> dict[str, int]:
        """Maps each service name to its HTTP port."""
        return {name: getattr(self, attr) for name, attr in SERVICE_PORT_FIELDS.items()}

    def replica_ports(self, name: str) -> list[int]:
        """The port of each replica of a service (or of the gateway's `gateway-metrics`)."""
        base = self.gateway_metrics_port if name == GATEWAY_METRICS else self.service_ports[name]
        extra = self.extra_replica_ports.get(name)
        if extra is not None and len(extra) < self.replicas - 1:
            raise ValueError(f"{name}: {self.replicas} replicas but {len(extra)} extra ports")
        others = (
            extra[: self.replicas - 1]
            if extra is not None
            else [base + self.replica_port_step * k for k in range(1, self.replicas)]
        )
        return [base, *others]

    @property
    def bootstrap_servers(self) -> str:
        """The Kafka bootstrap address clients use."""
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def mongodb_uri(self) -> str:
        """The MongoDB connection string clients use."""
        return f"mongodb://127.0.0.1:{self.mongodb_port}/?directConnection=true"
