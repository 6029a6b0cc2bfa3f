"""`crm-stack up|down|status`: runs the whole local stack as processes on this machine."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor

from .config import MAX_REPLICAS, StackConfig
from .demo import DemoIncompleteError, load_demo
from .infra import InfraComponent
from .keycloak import KEYCLOAK_VERSION, Keycloak, available_memory_mib
from .processes import ManagedProcess, ProcessError, port_open
from .sign_in import KeycloakState, keycloak_state, sign_in_guide
from .stack import identity_provider, infra_components, service_processes, service_url

__all__ = ["main", "service_processes"]


def _print(message: str = "") -> None:
    """Writes one line of CLI output immediately, even when piped."""
    print(message, flush=True)


def _error(message: str) -> None:
    """Writes one line to stderr."""
    print(f"crm-stack: {message}", file=sys.stderr, flush=True)


def _ports_free(processes: list[ManagedProcess]) -> bool:
    """Reports every port held by something other than this stack; True when there is none."""
    taken = [
        f"{process.name} needs port {port}"
        for process in processes
        if not process.is_running()
        for port in process.ports
        if port_open(port)
    ]
    for problem in taken:
        _error(f"{problem}, which another program is using")
    if taken:
        _error("nothing was started; free those ports or override them with CRM_STACK_*_PORT")
    return not taken


def _start_infra(infra: list[InfraComponent]) -> bool:
    """Launches every component in order, then waits for each; False if a required one fails.

    An optional component (the trace viewer) that fails is reported and stopped, and the rest
    start without it.
    """
    launched_at: dict[str, float] = {}
    failed: set[str] = set()
    for component in infra:
        try:
            fresh = component.launch()
        except (ProcessError, RuntimeError, OSError) as exc:
            if not _optional_failed(component, exc):
                return False
            failed.add(component.name)
            continue
        launched_at[component.name] = time.monotonic()
        _print(f"  {component.name:<10} {'starting' if fresh else 'already running'}")
    for component in infra:
        if component.name in failed:
            continue
        try:
            component.wait_ready()
        except (ProcessError, RuntimeError, OSError) as exc:
            if not _optional_failed(component, exc):
                return False
            continue
        elapsed = time.monotonic() - launched_at[component.name]
        _print(f"  {component.name:<10} ready {elapsed:.1f}s after launch")
    return True


def _optional_failed(component: InfraComponent, exc: Exception) -> bool:
    """Reports a component that failed to start; True if the stack can go on without it."""
    _error(f"{component.name}: {exc}")
    if not component.optional:
        _error("components that did start keep running; `crm-stack down` stops them")
        return False
    component.stop()
    _error(f"{component.name} is optional: the stack goes on without it")
    return True


def _ensure_topics(bootstrap_servers: str, *, required: bool) -> bool:
    """Creates the catalog's topics; False when that fails and the topics are required."""
    try:
        from crm_shared.topics import ensure_topics  # type: ignore[import-untyped,unused-ignore]
    except ImportError as exc:
        if required:
            _error(f"cannot create topics: {exc}")
            return False
        _print(f"  topics     NOT created (crm_shared.topics unavailable: {exc})")
        return True
    try:
        created = asyncio.run(ensure_topics(bootstrap_servers))
    except Exception as exc:
        _error(f"creating topics failed: {exc!r}")
        return False
    _print(f"  topics     {len(created)} created" if created else "  topics     all present")
    return True


def _start_services(services: list[ManagedProcess]) -> bool:
    """Starts every service process, then waits for each /readyz; False if any fails."""
    try:
        for process in services:
            fresh = process.start()
            _print(f"  {process.name:<10} {'starting' if fresh else 'already running'}")
    except ProcessError as exc:
        _error(str(exc))
        return False
    healthy = True
    for process in services:
        try:
            process.wait_ready()
            _print(f"  {process.name:<10} ready")
        except ProcessError as exc:
            healthy = False
            _error(f"{process.name} did not become ready: {exc}")
            # A half-started service would hold its port and confuse the next `up`.
            process.stop()
    return healthy


def _keycloak_wanted(config: StackConfig) -> Keycloak | None:
    """The stack's Keycloak, unless switched off or the machine lacks the memory (said why)."""
    keycloak = identity_provider(config)
    if keycloak.is_running():
        return keycloak
    if not config.keycloak_enabled:
        _print("  keycloak   off (CRM_STACK_KEYCLOAK_ENABLED=false): no browser sign-in")
        return None
    available = available_memory_mib()
    if available is not None and available < config.keycloak_min_available_mib:
        _error(
            f"keycloak NOT started: {available} MiB of memory available, it needs about 540 "
            f"(CRM_STACK_KEYCLOAK_MIN_AVAILABLE_MIB={config.keycloak_min_available_mib}); the "
            "stack runs without browser sign-in, development tokens work"
        )
        return None
    return keycloak


def _launch_in_background(keycloak: Keycloak, pool: ThreadPoolExecutor) -> Future[bool]:
    """Fetches (first time) and starts Keycloak in a thread; its JVM start then takes minutes,
    which nothing else waits for."""
    if keycloak.is_running():
        _print(f"  {keycloak.name:<10} already running")
    elif keycloak.fetched:
        _print(f"  {keycloak.name:<10} starting in the background (ready in 1-3 minutes)")
    else:
        _print(
            f"  {keycloak.name:<10} starting in the background; first start on this machine: "
            f"fetching Keycloak {KEYCLOAK_VERSION} through Maven (about 200 MB) and building "
            "it, several minutes"
        )
    return pool.submit(keycloak.launch)


def _keycloak_outcome(keycloak: Keycloak | None, launch: Future[bool] | None) -> KeycloakState:
    """Waits for the background launch (not for readiness) and says how Keycloak stands."""
    if keycloak is None or launch is None:
        return KeycloakState.NOT_RUNNING
    try:
        launch.result()
    except Exception as exc:
        # Optional: whatever went wrong (a failed fetch, a broken archive, a taken port), the
        # stack is up without it.
        _error(f"keycloak could not start: {exc}")
        keycloak.stop()
        _error(
            "the stack runs without it: browser sign-in answers 503, development tokens work; "
            f"log {keycloak.process.log_path}"
        )
        return KeycloakState.NOT_RUNNING
    state = keycloak_state(keycloak)
    if state is KeycloakState.NOT_RUNNING:
        _error(f"keycloak exited while starting:\n{keycloak.process.log_tail(15)}")
    return state


REPLICAS_FILE = "replicas"


def started_replicas(config: StackConfig) -> StackConfig:
    """`config` with as many replicas as the running stack was started with (`up --replicas`),
    so that `down` and `status` find every process."""
    try:
        replicas = int((config.run_dir / REPLICAS_FILE).read_text())
    except (OSError, ValueError):
        return config
    return config.model_copy(update={"replicas": max(config.replicas, replicas)})


def up(config: StackConfig, *, infra_only: bool) -> int:
    """Starts infrastructure, topics and (unless infra_only) every service; returns exit code."""
    started = time.monotonic()
    config = started_replicas(config)
    problems = config.ephemeral_port_problems()
    for problem in problems:
        _error(problem)
    if problems:
        _error("nothing was started")
        return 1
    _print(f"crm-stack: run dir {config.run_dir}")
    infra = infra_components(config)
    services = [] if infra_only else service_processes(config)
    if not _ports_free([component.process for component in infra] + services):
        return 1
    if not infra_only:
        config.run_dir.mkdir(parents=True, exist_ok=True)
        (config.run_dir / REPLICAS_FILE).write_text(str(config.replicas))
    keycloak = None if infra_only else _keycloak_wanted(config)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="keycloak") as pool:
        launch = None if keycloak is None else _launch_in_background(keycloak, pool)
        if not _start_infra(infra):
            return 1
        if not _ensure_topics(config.bootstrap_servers, required=not infra_only):
            return 1
        if infra_only:
            _print("  services   skipped (--infra-only)")
        elif not _start_services(services):
            _error("some services failed; the rest keep running, `crm-stack down` stops them")
            return 1
        state = _keycloak_outcome(keycloak, launch)

    _print()
    if not infra_only:
        gateway = service_url(config, "gateway")
        _print(f"  Gateway          {gateway}")
        _print(f"  API docs         {gateway}/docs")
        if config.replicas > 1:
            _print(f"  Replicas         {config.replicas} processes of each service")
    components: list[InfraComponent] = [*infra, *([keycloak] if keycloak is not None else [])]
    for component in components:
        for label, value in component.endpoints().items():
            _print(f"  {label:<16} {value}")
    _print(f"  Logs             {config.run_dir / 'logs'}")
    if not infra_only:
        _print()
        _print(sign_in_guide(config, state))
    _print(f"stack up in {time.monotonic() - started:.1f}s")
    return 0


def down(config: StackConfig) -> int:
    """Stops services, then infrastructure in reverse start order; returns exit code."""
    if not config.run_dir.is_dir():
        _print(f"nothing to stop: {config.run_dir} does not exist")
        return 0
    config = started_replicas(config)
    # Keycloak depends on nothing and nothing on it: it stops with the services.
    services = [*service_processes(config), identity_provider(config).process]
    infra = [component.process for component in reversed(infra_components(config))]
    # Services do not depend on each other, so they stop together; infrastructure outlives them
    # so that none loses its broker or database while still flushing.
    with ThreadPoolExecutor(max_workers=len(services)) as pool:
        reports = list(pool.map(_stop, services))
    reports += [_stop(process) for process in infra]
    for report in reports:
        _print(report)
    (config.run_dir / REPLICAS_FILE).unlink(missing_ok=True)
    return 0


def _stop(process: ManagedProcess) -> str:
    """Stops one process and says what happened."""
    was_running = process.is_running()
    process.stop()
    return f"  {process.name:<10} {'stopped' if was_running else 'was not running'}"


def status(config: StackConfig) -> int:
    """Prints each component's state, pid, ports and resident memory; returns exit code."""
    if not config.run_dir.is_dir():
        _print(f"stack never started: {config.run_dir} does not exist")
        return 0
    config = started_replicas(config)
    processes = [
        *(c.process for c in infra_components(config)),
        identity_provider(config).process,
        *service_processes(config),
    ]
    _print(f"{'COMPONENT':<11} {'STATE':<24} {'PID':>7} {'RSS':>9}  PORTS")
    total_kib = 0
    for process in processes:
        pid = process.pid
        ports = ",".join(str(port) for port in process.ports)
        if pid is None:
            _print(f"{process.name:<11} {'stopped':<24} {'-':>7} {'-':>9}  {ports}")
            continue
        listening = all(port_open(port) for port in process.ports)
        state = "running" if listening else "running (not listening)"
        rss = process.rss_kib() or 0
        total_kib += rss
        _print(f"{process.name:<11} {state:<24} {pid:>7} {rss / 1024:>7.0f}Mi  {ports}")
    _print(f"{'total':<11} {'':<24} {'':>7} {total_kib / 1024:>7.0f}Mi")
    return 0


def main(argv: list[str] | None = None) -> None:
    """Parses the command line and runs the chosen command."""
    parser = argparse.ArgumentParser(
        prog="crm-stack",
        description="Run the recruitment CRM locally: Kafka, SecantusDB, an SMTP sink, simulated "
        "Greenhouse and Lever accounts, Zipkin, Keycloak and every service as its own process. "
        "Ports and dirs come from CRM_STACK_* variables.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    up_parser = commands.add_parser("up", help="start everything (idempotent)")
    up_parser.add_argument(
        "--infra-only", action="store_true", help="start infrastructure and topics, no services"
    )
    up_parser.add_argument(
        "--replicas",
        type=int,
        choices=range(1, MAX_REPLICAS + 1),
        default=None,
        metavar="N",
        help=f"processes of each service, 1 to {MAX_REPLICAS} (default CRM_STACK_REPLICAS, 1); "
        "replica k listens on the service's port + 100 k",
    )
    commands.add_parser("down", help="stop everything")
    commands.add_parser("status", help="show what runs and how much memory it uses")
    demo_parser = commands.add_parser(
        "demo", help="load the demo tenant into the running stack (once) and print a guide"
    )
    demo_parser.add_argument("--candidates", type=int, default=300)
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.WARNING)
    # Readiness probes expect refused connections; aiokafka logs each one as an error.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    config = StackConfig()
    if args.command == "up":
        if args.replicas is not None:
            config = config.model_copy(update={"replicas": args.replicas})
        code = up(config, infra_only=args.infra_only)
    elif args.command == "down":
        code = down(config)
    elif args.command == "demo":
        try:
            _print(asyncio.run(load_demo(config, args.candidates)))
            code = 0
        except DemoIncompleteError as error:
            _print(f"crm-stack demo: {error}")
            code = 1
    else:
        code = status(config)
    raise SystemExit(code)


if __name__ == "__main__":
    main()
