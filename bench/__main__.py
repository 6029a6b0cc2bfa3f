"""Runs the benchmark suite: `python -m bench --mode small|full [--only NAME ...] [--size NAME=N]`.

Starts its own Kafka broker and SecantusDB in a temporary directory unless CRM_BENCH_KAFKA and
CRM_BENCH_MONGODB_URI name running ones (for example a faster MongoDB-wire server). The broker
is started only when one of the chosen benchmarks uses it.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import uvloop

from bench import (
    analytics_reports,
    api,
    ats_sync,
    auth,
    broadcast,
    console,
    consumer,
    engagement,
    event_registrations,
    imports,
    outbox,
    replicas,
    segment_load,
    segments,
)
from bench.report import Figure, table, write
from crm_devstack.infra import InfraComponent, KafkaBroker, MongoServer, free_ports
from crm_devstack.servers import (
    PYTHON_SERVER_NAME,
    RUST_SERVER_NAME,
    rust_mongo_server,
    rust_server_binary,
)
from crm_shared import ensure_topics

SIZES: dict[str, dict[str, Any]] = {
    "small": {
        "consumer": 300,
        "outbox": 2000,
        "segment_count": 2000,
        "latency_writes": 40,
        "latency_rate": 10.0,
        "load_latency_writes": 10,
        "load_sent": 500,
        "load_opens": 100,
        "load_import_rows": 500,
        "load_drain_seconds": 120,
        "engagement": 300,
        "api_candidates": 100,
        "api_rates": (20, 40),
        "api_seconds": 2,
        "import_rows": 2000,
        "import_segment_rows": 1000,
        "index_cost_rows": 300,
        "broadcast": 2000,
        "auth": 300,
        "console_candidates": 300,
        "console_rate": 5.0,
        "console_seconds": 2,
        "event_registrations": 200,
        "ats_webhooks": 30,
        "ats_applications": 1000,
        "ats_replicas": 1,
        "replicas_candidates": 100,
        "replicas_seconds": 10,
        "analytics_candidates": 500,
        "analytics_block": 500,
        "analytics_requests": 3,
    },
    "full": {
        "consumer": 5000,
        "outbox": 20000,
        "segment_count": 100_000,
        "segment_count_large": 1_000_000,
        "latency_writes": 300,
        "latency_rate": 20.0,
        # A broadcast to 100,000 with 20,000 opens, and a 100,000-row import (issue 18); 600
        # writes at 20/s keep the window inside the load.
        "load_latency_writes": 600,
        "load_sent": 100_000,
        "load_opens": 20_000,
        "load_import_rows": 100_000,
        "load_drain_seconds": 1800,
        "engagement": 5000,
        "api_candidates": 5000,
        "api_rates": (25, 50, 100, 200, 400, 800),
        "api_seconds": 10,
        "import_rows": 100_000,
        "import_segment_rows": 20_000,
        "index_cost_rows": 3000,
        "broadcast": 100_000,
        "auth": 5000,
        "console_candidates": 100_000,
        "console_rate": 20.0,
        "console_seconds": 15,
        "event_registrations": 5000,
        "ats_webhooks": 300,
        "ats_applications": 50_000,
        "ats_replicas": 1,
        "replicas_candidates": 1000,
        "replicas_seconds": 30,
        "analytics_candidates": 1_000_000,
        "analytics_block": 2000,
        "analytics_requests": 20,
    },
}


# The benchmarks that talk to Kafka. The others (broadcast, import, segment counts) run without
# a broker: an idle JVM still takes a few percent of a two-core machine, and on it the
# broadcast is bound by CPU.
USES_KAFKA = frozenset(
    {
        "consumer",
        "outbox",
        "segment-latency",
        "segment-latency-under-load",
        "engagement",
        "api",
        "console",
        "event-registrations",
        "ats-sync",
        "replicas",
    }
)


def benchmarks(
    bootstrap: str, mongodb_uri: str, size: dict[str, Any]
) -> dict[str, Callable[[], Awaitable[list[Figure]]]]:
    return {
        "consumer": lambda: consumer.run(bootstrap, mongodb_uri, int(size["consumer"])),
        "outbox": lambda: outbox.run(bootstrap, mongodb_uri, int(size["outbox"])),
        "segment-count": lambda: segments.count_ratio(mongodb_uri, int(size["segment_count"])),
        "segment-count-large": lambda: segments.count_ratio(
            mongodb_uri, int(size.get("segment_count_large", 0))
        ),
        "segment-latency": lambda: segments.membership_latency(
            bootstrap, mongodb_uri, int(size["latency_writes"]), size["latency_rate"]
        ),
        "segment-latency-under-load": lambda: segment_load.run(
            bootstrap,
            mongodb_uri,
            writes=int(size["load_latency_writes"]),
            per_second=float(size["latency_rate"]),
            sent=int(size["load_sent"]),
            opens=int(size["load_opens"]),
            import_rows=int(size["load_import_rows"]),
            drain_timeout=float(size["load_drain_seconds"]),
        ),
        "engagement": lambda: engagement.run(bootstrap, mongodb_uri, int(size["engagement"])),
        "import": lambda: imports.run(mongodb_uri, int(size["import_rows"])),
        "import-segments": lambda: imports.run_with_segments(
            mongodb_uri, int(size["import_segment_rows"])
        ),
        "import-index-cost": lambda: imports.index_costs(mongodb_uri, int(size["index_cost_rows"])),
        "broadcast": lambda: broadcast.run(mongodb_uri, int(size["broadcast"])),
        "auth": lambda: auth.run(mongodb_uri, int(size["auth"])),
        "api": lambda: api.run(
            bootstrap,
            mongodb_uri,
            int(size["api_candidates"]),
            [float(rate) for rate in size["api_rates"]],
            float(size["api_seconds"]),
        ),
        "event-registrations": lambda: event_registrations.run(
            bootstrap, mongodb_uri, int(size["event_registrations"])
        ),
        "ats-sync": lambda: ats_sync.run(
            bootstrap,
            mongodb_uri,
            int(size["ats_webhooks"]),
            int(size["ats_applications"]),
            int(size["ats_replicas"]),
        ),
        "replicas": lambda: replicas.run(
            bootstrap,
            mongodb_uri,
            int(size["replicas_candidates"]),
            float(size["replicas_seconds"]),
        ),
        "console": lambda: console.run(
            bootstrap,
            mongodb_uri,
            int(size["console_candidates"]),
            float(size["console_rate"]),
            float(size["console_seconds"]),
        ),
        "analytics_reports": lambda: analytics_reports.run(
            mongodb_uri,
            int(size["analytics_candidates"]),
            int(size["analytics_block"]),
            int(size["analytics_requests"]),
        ),
    }


async def run_suite(
    mode: str, only: list[str], bootstrap: str, mongodb_uri: str, *, server: str
) -> list[Figure]:
    """Runs the benchmarks in order, writing the results file after each one: a long full run
    that fails late keeps what it measured."""
    fast_server = server != PYTHON_SERVER_NAME
    if bootstrap:
        await ensure_topics(bootstrap)
    figures: list[Figure] = []
    for name, benchmark in benchmarks(bootstrap, mongodb_uri, SIZES[mode]).items():
        if only and name not in only:
            continue
        if name == "segment-count-large" and (mode != "full" or not fast_server):
            # A million documents on the Python server would take hours; say so, don't hide it.
            print(f"skipping {name}: it runs in full mode on the Rust server only", flush=True)
            continue
        if name == "import-index-cost" and mode != "full" and name not in only:
            # Thirteen collections filled one after the other: full mode, or `--only`.
            print(f"skipping {name}: it runs in full mode or with --only {name}", flush=True)
            continue
        if name == "event-registrations" and mode != "full" and name not in only:
            # Six service processes started for it: full mode, or `--only`.
            print(f"skipping {name}: it runs in full mode or with --only {name}", flush=True)
            continue
        if name == "replicas" and mode != "full" and name not in only:
            # Two stacks of six (then twelve) service processes, one after the other: full
            # mode, or `--only`.
            print(f"skipping {name}: it runs in full mode or with --only {name}", flush=True)
            continue
        if name == "console" and mode != "full" and name not in only:
            # It starts Keycloak (a minute or more of a JVM), too much beside CI's tests; the
            # browser tests cover the pages, `--only console` runs it at the small size.
            print(f"skipping {name}: it runs in full mode or with --only console", flush=True)
            continue
        print(f"running {name} ...", flush=True)
        started = time.perf_counter()
        measured = await benchmark()
        print(f"{name} took {time.perf_counter() - started:.0f} s", flush=True)
        print(table(measured), flush=True)
        figures.extend(measured)
        write(figures, mode=mode, database_server=server)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--mode", choices=sorted(SIZES), default="small")
    parser.add_argument("--only", nargs="*", default=[], help="benchmark names to run")
    parser.add_argument(
        "--size",
        nargs="*",
        default=[],
        metavar="NAME=N",
        help="overrides one of the mode's sizes (SIZES), e.g. ats_applications=2000",
    )
    parser.add_argument(
        "--server",
        choices=("auto", "rust", "python"),
        default="auto",
        help="the SecantusDB server to start: auto takes the Rust one when it is built",
    )
    args = parser.parse_args()
    for override in args.size:
        name, _, value = override.partition("=")
        if name not in SIZES[args.mode] or not value.isdigit():
            parser.error(f"--size {override}: expected NAME=N with NAME one of the mode's sizes")
        SIZES[args.mode][name] = int(value)
    bootstrap = os.environ.get("CRM_BENCH_KAFKA", "")
    mongodb_uri = os.environ.get("CRM_BENCH_MONGODB_URI", "")
    server = os.environ.get("CRM_BENCH_DATABASE_SERVER", "the server at CRM_BENCH_MONGODB_URI")
    rust_binary = rust_server_binary() if args.server != "python" else None
    if args.server == "rust" and rust_binary is None:
        parser.error("the Rust SecantusDB server is not built: run `make bench-server` first")
    started: list[InfraComponent] = []
    with tempfile.TemporaryDirectory(prefix="crm-bench-") as run_dir:
        try:
            if not bootstrap and (not args.only or USES_KAFKA.intersection(args.only)):
                kafka_port, controller_port = free_ports(2)
                broker = KafkaBroker(Path(run_dir), kafka_port, controller_port).start()
                started.append(broker)
                bootstrap = broker.bootstrap_servers
            if not mongodb_uri:
                [port] = free_ports(1)
                if rust_binary is not None:
                    rust_server = rust_mongo_server(rust_binary, Path(run_dir), port).start()
                    started.append(rust_server)
                    mongodb_uri, server = rust_server.mongodb_uri, RUST_SERVER_NAME
                else:
                    if args.mode == "full":
                        print(
                            "the Rust SecantusDB server is not built (make bench-server); "
                            "measuring on the Python server"
                        )
                    python_server = MongoServer(Path(run_dir), port).start()
                    started.append(python_server)
                    mongodb_uri, server = python_server.mongodb_uri, PYTHON_SERVER_NAME
            # uvloop, as in the services: uvicorn runs them on it when it is installed, and
            # `uvicorn[standard]` installs it.
            figures = uvloop.run(
                run_suite(
                    args.mode,
                    args.only,
                    bootstrap,
                    mongodb_uri,
                    server=server,
                )
            )
        finally:
            for component in reversed(started):
                component.stop()
    print()
    print(f"mode {args.mode}, database server: {server}, {os.cpu_count()} CPUs")
    print(table(figures))
    print(f"\nwritten to {write(figures, mode=args.mode, database_server=server)}")
    sys.exit(0)


if __name__ == "__main__":
    main()
