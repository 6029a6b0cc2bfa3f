"""Where a candidate read's time goes: `uv run python -m bench.api_profile [options]`.

Starts its own broker and database (or uses CRM_BENCH_KAFKA / CRM_BENCH_MONGODB_URI), the
gateway and the candidates service as benchmark 7 starts them, seeds candidates, then reads
them by id at a fixed open-loop rate twice: through the gateway, and straight to the candidates
service with an internal token minted here (the gateway's hop alone is the difference).
`--profile gateway,candidates` runs those processes under pyinstrument and writes each one's
report to `--out`. A measuring tool for docs/performance.md, not part of `make bench`.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import random
import shutil
import signal
import sys
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import uvloop

from bench.api import RateResult, _open_loop, _seed, stack_processes
from crm_devstack.config import StackConfig
from crm_devstack.infra import InfraComponent, KafkaBroker, free_ports
from crm_devstack.processes import ManagedProcess
from crm_devstack.servers import rust_mongo_server, rust_server_binary
from crm_devstack.stack import internal_token_keys, services_config
from crm_shared import InternalTokenSigner, Principal, ensure_topics, load_private_key

# Runs a module with pyinstrument's sampling profiler armed: SIGUSR1 starts it, SIGUSR2 stops it
# and writes the text report, so the profile covers the measured load only (not start-up,
# imports or seeding). Async mode off: the samples are what the process's thread was running,
# idle time shows as the event loop's wait.
_PROFILED = """
import cProfile, io, pstats, runpy, signal, sys, time
from pyinstrument import Profiler
out, sys.argv = sys.argv[1], sys.argv[2:]
profiler = Profiler(interval=0.001, async_mode="disabled")
cpu = cProfile.Profile(time.thread_time)
def start(*_):
    if "cprofile" in out:
        cpu.enable()
    else:
        profiler.start()
def stop(*_):
    with open(out, "w") as report:
        if "cprofile" in out:
            cpu.disable()
            # The raw statistics beside the report, for `pstats` (callers, callees).
            cpu.dump_stats(out.removesuffix(".txt") + ".pstats")
            for order in ("cumulative", "tottime"):
                text = io.StringIO()
                pstats.Stats(cpu, stream=text).sort_stats(order).print_stats(70)
                report.write(text.getvalue())
        else:
            profiler.stop()
            report.write(profiler.output_text(show_all=False, color=False))
signal.signal(signal.SIGUSR1, start)
signal.signal(signal.SIGUSR2, stop)
runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
"""


def _profiled(process: ManagedProcess, out: Path, profiler: str) -> ManagedProcess:
    """`process` run under pyinstrument, its report written to `out` when it stops."""
    python, _, module, *rest = process.argv
    argv = [python, "-c", _PROFILED, str(out / f"{process.name}.{profiler}.txt"), module, *rest]
    return dataclasses.replace(process, argv=argv)


def _cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used: a machine shared with other work
    stretches latencies, not the CPU a request costs."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _summary(label: str, result: RateResult, cpu: dict[str, float]) -> str:
    requests = max(1, len(result.latencies_ms))
    per_request = "  ".join(
        f"{name} {seconds * 1000 / requests:.2f} ms CPU" for name, seconds in cpu.items()
    )
    return (
        f"{label:<24} {result.rate:>5g} req/s  p50 {result.percentile(0.5):7.1f} ms  "
        f"p90 {result.percentile(0.9):7.1f} ms  p99 {result.percentile(0.99):7.1f} ms  "
        f"errors {result.errors}  per request: {per_request}"
    )


async def _measure(
    config: StackConfig, args: argparse.Namespace, pids: dict[str, int], profiled: set[str]
) -> None:
    gateway = f"http://127.0.0.1:{config.gateway_port}"
    candidates = f"http://127.0.0.1:{config.candidates_port}"
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    signer = InternalTokenSigner(
        load_private_key(str(internal_token_keys(config.run_dir).private_key)), 3600
    )
    internal = signer.mint(
        Principal(tenant_id="acme", user_id="bench-direct", roles=frozenset({"recruiter"})),
        "candidates",
    )
    async with (
        httpx.AsyncClient(
            base_url=gateway,
            headers={"Authorization": "Bearer dev-acme-recruiter"},
            timeout=120,
            limits=limits,
        ) as through_gateway,
        httpx.AsyncClient(
            base_url=candidates,
            headers={"Authorization": f"Bearer {internal}"},
            timeout=30,
            limits=limits,
        ) as direct,
    ):
        seeded = await _seed(through_gateway, args.candidates)
        ids = [candidate["id"] for candidate in seeded]
        chooser = random.Random(11)

        def reader(client: httpx.AsyncClient, path: str) -> Callable[[int], Awaitable[bool]]:
            async def read(_: int) -> bool:
                response = await client.get(f"{path}/{chooser.choice(ids)}")
                return response.status_code == 200

            return read

        # A short warm-up on each path: connections, caches, the gateway's route catalogue.
        await _open_loop(20, 1, reader(through_gateway, "/api/v1/candidates"))
        await _open_loop(20, 1, reader(direct, "/candidates"))
        print(f"{len(ids)} candidates seeded", flush=True)
        for name in profiled:
            os.kill(pids[name], signal.SIGUSR1)
        for rate in args.rates:
            for label, client, path in (
                ("through the gateway", through_gateway, "/api/v1/candidates"),
                ("straight to candidates", direct, "/candidates"),
            ):
                before = {name: _cpu_seconds(pid) for name, pid in pids.items()}
                result = await _open_loop(rate, args.seconds, reader(client, path))
                used = {name: _cpu_seconds(pid) - before[name] for name, pid in pids.items()}
                print(_summary(label, result, used), flush=True)
        for name in profiled:
            os.kill(pids[name], signal.SIGUSR2)
        await asyncio.sleep(5)


async def _run(bootstrap: str, mongodb_uri: str, args: argparse.Namespace, run_dir: Path) -> None:
    await ensure_topics(bootstrap)
    config = services_config(
        bootstrap_servers=bootstrap,
        mongodb_uri=mongodb_uri,
        smtp_port=free_ports(1)[0],
        run_dir=run_dir,
        kafka_group_prefix=f"bench-profile-{uuid.uuid4().hex[:8]}",
    )
    wanted = set(args.services)
    processes = [p for p in stack_processes(config) if p.name in wanted]
    extra = dict(item.split("=", 1) for item in args.env)
    # `NAME=` with no value removes the variable.
    processes = [
        dataclasses.replace(
            p, env={k: v for k, v in (dict(p.env) | extra).items() if v or k not in extra}
        )
        for p in processes
    ]
    profiled = set(args.profile)
    out = Path(args.out)
    workers = {name: count for name, count in (item.split("=", 1) for item in args.workers)}
    processes = [
        dataclasses.replace(p, argv=[*p.argv, "--workers", workers[p.name]])
        if p.name in workers
        else p
        for p in processes
    ]
    processes = [_profiled(p, out, args.profiler) if p.name in profiled else p for p in processes]
    try:
        for process in processes:
            process.start()
        for process in processes:
            await asyncio.to_thread(process.wait_ready)
        pids = {p.name: pid for p in processes if (pid := p.pid) is not None}
        await _measure(config, args, pids, profiled)
    finally:
        for process in processes:
            await asyncio.to_thread(process.stop, 60)
        for process in processes:
            if process.log_path.is_file():
                shutil.copy(process.log_path, out / f"{process.name}.log")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.api_profile")
    parser.add_argument("--candidates", type=int, default=300)
    parser.add_argument("--rates", type=float, nargs="+", default=[50.0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--services", nargs="+", default=["gateway", "candidates"])
    parser.add_argument("--profile", nargs="*", default=[], help="services run under pyinstrument")
    parser.add_argument(
        "--profiler",
        choices=("pyinstrument", "cprofile"),
        default="pyinstrument",
        help="pyinstrument samples the wall clock; cProfile counts the main thread's CPU time",
    )
    parser.add_argument(
        "--workers",
        nargs="*",
        default=[],
        help="NAME=N: uvicorn worker processes of a service (CPU is then the supervisor's only)",
    )
    parser.add_argument("--env", nargs="*", default=[], help="NAME=value for every service")
    parser.add_argument("--out", default="bench/results/api-profile")
    args = parser.parse_args()
    bootstrap = os.environ.get("CRM_BENCH_KAFKA", "")
    mongodb_uri = os.environ.get("CRM_BENCH_MONGODB_URI", "")
    binary = rust_server_binary()
    with tempfile.TemporaryDirectory(prefix="crm-bench-profile-") as run_dir:
        started: list[InfraComponent] = []
        try:
            if not bootstrap:
                kafka_port, controller_port = free_ports(2)
                broker = KafkaBroker(Path(run_dir), kafka_port, controller_port).start()
                started.append(broker)
                bootstrap = broker.bootstrap_servers
            if not mongodb_uri:
                if binary is None:
                    sys.exit("the Rust SecantusDB server is not built: run `make bench-server`")
                server = rust_mongo_server(binary, Path(run_dir), free_ports(1)[0]).start()
                started.append(server)
                mongodb_uri = server.mongodb_uri
            Path(args.out).mkdir(parents=True, exist_ok=True)
            services_dir = Path(run_dir) / "stack"
            services_dir.mkdir()
            uvloop.run(_run(bootstrap, mongodb_uri, args, services_dir))
        finally:
            for component in reversed(started):
                component.stop()


if __name__ == "__main__":
    main()
