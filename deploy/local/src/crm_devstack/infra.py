"""Kafka, SecantusDB, the SMTP sink and Zipkin as local processes on explicit ports and dirs."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fcntl
import http.client
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Coroutine, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Self, TypeVar
from urllib.parse import urlsplit

from aiokafka.admin import AIOKafkaAdminClient  # type: ignore[import-untyped,unused-ignore]
from aiokafka.errors import KafkaError  # type: ignore[import-untyped,unused-ignore]
from pymongo import MongoClient
from pymongo.errors import PyMongoError

from .ats.control import READY_PATH as ATS_SIMULATOR_READY_PATH
from .config import StackConfig, default_cache_dir, ephemeral_port_range
from .processes import ManagedProcess, port_open
from .secantusd import DEFAULT_TRANSACTION_LIFETIME_SECONDS
from .smtp_sink import ReceivedMessage, read_messages

T = TypeVar("T")

LOCALHOST = "127.0.0.1"
# Must match the kafka_2.13 version pinned in deploy/local/kafka/pom.xml.
KAFKA_VERSION = "4.4.0"
ZIPKIN_VERSION = "3.5.1"
KAFKA_POM = Path(__file__).resolve().parents[2] / "kafka" / "pom.xml"
# Free ports for tests and ad-hoc servers are drawn from here up, below the ephemeral range:
# under 10000 sit many services' well-known ports.
FREE_PORT_FLOOR = 10000


def free_port() -> int:
    """Returns a TCP port on 127.0.0.1 that nothing listens on right now."""
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """Returns `count` distinct free TCP ports on 127.0.0.1, outside the ephemeral range.

    The kernel's own choice (binding port 0) comes from the ephemeral range, where a client's
    outgoing connection may take the port before the server binds it, or after it stops and
    before it starts again (a restarted test broker then fails to bind). So the ports are drawn
    at random from below and above that range, skipping the local stack's default ports, and
    each is checked by binding it."""
    low, high = ephemeral_port_range()
    taken_by_default = set(StackConfig.model_construct().ports.values())
    candidates = [
        port
        for port in (*range(FREE_PORT_FLOOR, low), *range(high + 1, 65536))
        if port not in taken_by_default
    ]
    random.shuffle(candidates)
    chosen: list[int] = []
    with contextlib.ExitStack() as stack:
        # Holding every socket open until all are bound keeps a port from being chosen twice.
        for port in candidates:
            sock = stack.enter_context(socket.socket())
            try:
                sock.bind((LOCALHOST, port))
            except OSError:
                continue
            chosen.append(port)
            if len(chosen) == count:
                return chosen
    raise RuntimeError(f"fewer than {count} free ports outside the ephemeral range {low}-{high}")


def http_ok(url: str, timeout: float = 2.0) -> bool:
    """Tells whether GET `url` answers 200."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(
        parts.hostname or LOCALHOST, parts.port, timeout=timeout
    )
    try:
        connection.request("GET", parts.path or "/")
        return connection.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def run_coroutine_sync(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Runs a coroutine to completion from sync code, even if the caller's thread has a loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(factory())).result()


def java_executable() -> str:
    """Locates the java launcher, preferring $JAVA_HOME."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return str(Path(java_home) / "bin" / "java")
    # The bare name makes a missing JDK fail at launch with a plain "No such file: 'java'".
    return shutil.which("java") or "java"


def _mvn() -> str:
    """Locates Maven, which fetches the broker and Zipkin jars."""
    found = shutil.which("mvn")
    if found is None:
        raise RuntimeError("mvn not found: Maven fetches the Kafka and Zipkin jars into the cache")
    return found


@contextlib.contextmanager
def _cache_lock(cache_dir: Path, name: str) -> Iterator[None]:
    """Serialises downloads of one artifact across concurrent test sessions and CLIs."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    with (cache_dir / f".{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def kafka_libs_dir(cache_dir: Path | None = None) -> Path:
    """Where the broker's jars live once fetched."""
    return (cache_dir or default_cache_dir()) / f"kafka-{KAFKA_VERSION}" / "libs"


def ensure_kafka_libs(cache_dir: Path | None = None) -> Path:
    """Fetches the pinned Kafka jars into the cache unless present; returns the libs dir."""
    libs = kafka_libs_dir(cache_dir)
    marker = libs / f"kafka_2.13-{KAFKA_VERSION}.jar"
    if marker.is_file():
        return libs
    with _cache_lock(libs.parent.parent, f"kafka-{KAFKA_VERSION}"):
        if marker.is_file():
            return libs
        libs.parent.mkdir(parents=True, exist_ok=True)
        # Copying into a scratch dir and renaming it means an interrupted fetch leaves no libs
        # dir that looks complete.
        scratch = Path(tempfile.mkdtemp(prefix="libs-", dir=libs.parent))
        try:
            _run_checked(
                [
                    _mvn(),
                    "-q",
                    "-B",
                    "-f",
                    str(KAFKA_POM),
                    "dependency:copy-dependencies",
                    f"-DoutputDirectory={scratch}",
                ],
                what="fetching the Kafka jars",
            )
            if libs.exists():
                shutil.rmtree(libs)
            scratch.chmod(0o755)
            scratch.rename(libs)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return libs


def zipkin_jar_path(cache_dir: Path | None = None) -> Path:
    """Where the Zipkin server jar lives once fetched."""
    return (
        (cache_dir or default_cache_dir()) / "zipkin" / f"zipkin-server-{ZIPKIN_VERSION}-exec.jar"
    )


def ensure_zipkin_jar(cache_dir: Path | None = None) -> Path:
    """Fetches the Zipkin server jar into the cache unless present; returns its path."""
    jar = zipkin_jar_path(cache_dir)
    if jar.is_file():
        return jar
    with _cache_lock(jar.parent.parent, "zipkin"):
        if jar.is_file():
            return jar
        jar.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="fetch-", dir=jar.parent) as scratch:
            _run_checked(
                [
                    _mvn(),
                    "-q",
                    "-B",
                    "dependency:copy",
                    f"-Dartifact=io.zipkin:zipkin-server:{ZIPKIN_VERSION}:jar:exec",
                    f"-DoutputDirectory={scratch}",
                ],
                what="fetching the Zipkin jar",
                cwd=Path(scratch),
            )
            (Path(scratch) / jar.name).rename(jar)
    return jar


def _run_checked(argv: list[str], *, what: str, cwd: Path | None = None) -> None:
    """Runs a short command, raising with its output if it fails."""
    result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(
            f"{what} failed (exit {result.returncode}): {' '.join(argv)}\n"
            f"{result.stdout[-4000:]}{result.stderr[-4000:]}"
        )


class InfraComponent:
    """One piece of local infrastructure backed by a ManagedProcess."""

    name: str
    process: ManagedProcess
    # An optional component that fails to start is reported, and the rest start without it.
    optional: bool = False

    def prepare(self) -> None:
        """Creates files the process needs before it can start (overridden where needed)."""

    def launch(self) -> bool:
        """Prepares and starts the process without waiting; True when newly started."""
        if self.process.is_running():
            return False
        self.prepare()
        return self.process.start()

    def wait_ready(self, timeout: float | None = None) -> None:
        """Blocks until the component serves requests."""
        self.process.wait_ready(timeout)

    def start(self, timeout: float | None = None) -> Self:
        """Launches the component (or adopts a running one) and waits until it is ready."""
        fresh = self.launch()
        try:
            self.wait_ready(timeout)
        except BaseException:
            # The caller gets no handle when start() raises, so nothing else could stop it.
            if fresh:
                self.process.stop()
            raise
        return self

    async def start_async(self, ready_timeout: float | None = None) -> Self:
        """Starts the component without blocking the event loop."""
        return await asyncio.to_thread(self.start, ready_timeout)

    def stop(self, timeout: float | None = None) -> None:
        """Stops the component's process tree."""
        self.process.stop(timeout)

    def is_running(self) -> bool:
        """Tells whether the component's process is alive."""
        return self.process.is_running()

    def endpoints(self) -> dict[str, str]:
        """Connection details to show to a developer."""
        return {}


async def _kafka_answers(bootstrap_servers: str) -> bool:
    """Tells whether the broker answers a metadata request that lists at least one broker."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap_servers,
        client_id="crm-devstack-readiness",
        request_timeout_ms=5000,
    )
    try:
        await admin.start()
        cluster = await admin.describe_cluster()
        return bool(cluster.get("brokers"))
    except (TimeoutError, KafkaError, OSError):
        return False
    finally:
        await admin.close()


class KafkaBroker(InfraComponent):
    """A single-node KRaft Kafka (broker and controller in one JVM)."""

    def __init__(
        self,
        run_dir: Path,
        port: int,
        controller_port: int,
        *,
        cache_dir: Path | None = None,
        heap: str = "512m",
        extra_jvm_options: Sequence[str] = (),
        name: str = "kafka",
    ) -> None:
        """Describes the broker; nothing is written or started yet."""
        self.name = name
        self.run_dir = run_dir
        self.port = port
        self.controller_port = controller_port
        self.cache_dir = cache_dir
        self.home = run_dir / name
        self.data_dir = self.home / "data"
        self.server_log = run_dir / "logs" / f"{name}-server.log"
        libs = kafka_libs_dir(cache_dir)
        self._jvm_prefix = [
            java_executable(),
            f"-Xmx{heap}",
            "-Xms128m",
            "-Djava.awt.headless=true",
            "-XX:+ExitOnOutOfMemoryError",
            *extra_jvm_options,
            f"-Dlog4j2.configurationFile={self.home / 'log4j2.properties'}",
            "-cp",
            f"{libs}/*",
        ]
        self.process = ManagedProcess(
            name=name,
            argv=[*self._jvm_prefix, "kafka.Kafka", str(self.home / "server.properties")],
            run_dir=run_dir,
            cwd=self.home,
            ports=(port, controller_port),
            readiness=self._ready,
            ready_timeout=90,
            stop_timeout=30,
            extra_logs=(self.server_log,),
        )

    @property
    def bootstrap_servers(self) -> str:
        """The address Kafka clients bootstrap from."""
        return f"{LOCALHOST}:{self.port}"

    def endpoints(self) -> dict[str, str]:
        """Connection details to show to a developer."""
        return {"Kafka bootstrap": self.bootstrap_servers}

    def _ready(self) -> bool:
        """Tells whether the broker accepts connections and answers metadata requests."""
        if not port_open(self.port):
            return False
        return run_coroutine_sync(lambda: _kafka_answers(self.bootstrap_servers))

    def prepare(self) -> None:
        """Fetches the jars, writes the configs, and formats the log dir on first use."""
        ensure_kafka_libs(self.cache_dir)
        self.home.mkdir(parents=True, exist_ok=True)
        self.server_log.parent.mkdir(parents=True, exist_ok=True)
        (self.home / "server.properties").write_text(self._server_properties())
        (self.home / "log4j2.properties").write_text(self._log4j2_properties())
        if not (self.data_dir / "meta.properties").is_file():
            _run_checked(
                [
                    *self._jvm_prefix,
                    "kafka.tools.StorageTool",
                    "format",
                    "--standalone",
                    "--cluster-id",
                    kafka_cluster_id(),
                    "--config",
                    str(self.home / "server.properties"),
                ],
                what="formatting the Kafka log dir",
            )

    def _server_properties(self) -> str:
        """The broker's server.properties."""
        settings = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.bootstrap.servers": f"{LOCALHOST}:{self.controller_port}",
            "listeners": (
                f"PLAINTEXT://{LOCALHOST}:{self.port},CONTROLLER://{LOCALHOST}:{self.controller_port}"
            ),
            "advertised.listeners": f"PLAINTEXT://{LOCALHOST}:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.data_dir),
            # Every topic comes from the catalog via ensure_topics; a typo must fail loudly.
            "auto.create.topics.enable": "false",
            "num.partitions": "3",
            "offsets.topic.replication.factor": "1",
            # 50 offsets partitions (the default) slow down the first consumer group join.
            "offsets.topic.num.partitions": "3",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "3",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
        }
        return "".join(f"{key}={value}\n" for key, value in settings.items())

    def _log4j2_properties(self) -> str:
        """Log4j 2 config sending INFO and above to the server log file."""
        return "\n".join(
            [
                "status = warn",
                "appender.file.type = File",
                "appender.file.name = FILE",
                f"appender.file.fileName = {self.server_log}",
                "appender.file.layout.type = PatternLayout",
                "appender.file.layout.pattern = [%d] %p %m (%c)%n",
                "rootLogger.level = INFO",
                "rootLogger.appenderRef.file.ref = FILE",
                # Per-request logging is far too chatty for a dev log.
                "logger.request.name = kafka.request.logger",
                "logger.request.level = WARN",
                "",
            ]
        )


def kafka_cluster_id() -> str:
    """A random cluster id in Kafka's format (url-safe base64 of 16 bytes, unpadded)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        # Kafka's own generator rejects ids starting with '-', which would parse as a flag.
        if not cluster_id.startswith("-"):
            return cluster_id


def mongodb_answers(uri: str) -> bool:
    """Tells whether a MongoDB-wire server at `uri` answers ping."""
    client: MongoClient[dict[str, Any]] = MongoClient(
        uri, serverSelectionTimeoutMS=1000, connectTimeoutMS=1000
    )
    try:
        client.admin.command("ping")
        return True
    except PyMongoError:
        return False
    finally:
        client.close()


class MongoServer(InfraComponent):
    """SecantusDB, a MongoDB-wire server advertising a single-node replica set."""

    def __init__(
        self,
        run_dir: Path,
        port: int,
        *,
        storage_path: Path | None = None,
        name: str = "mongodb",
        transaction_lifetime_seconds: float = DEFAULT_TRANSACTION_LIFETIME_SECONDS,
        server_argv: Sequence[str] | None = None,
    ) -> None:
        """Describes the server; storage_path None keeps data in memory for the process's life.
        A transaction idle for `transaction_lifetime_seconds` is aborted (mongod's
        transactionLifetimeLimitSeconds; see crm_devstack.secantusd). `server_argv` runs another
        MongoDB-wire server instead (the benchmarks' Rust server), with `config_file` as its
        config and `storage_path` as its data directory."""
        self.name = name
        self.run_dir = run_dir
        self.port = port
        self.storage_path = storage_path
        self.home = run_dir / name
        self.process = ManagedProcess(
            name=name,
            argv=list(server_argv)
            if server_argv is not None
            else [
                # The wrapper runs secantusd-py's entry point with reliable SIGTERM handling.
                sys.executable,
                "-m",
                "crm_devstack.secantusd",
                # An explicit (empty) config file turns off discovery of ./secantusd.toml and
                # ~/.secantus/secantusd.toml, which could silently change this server.
                "--config",
                str(self.config_file),
                "--host",
                LOCALHOST,
                "--port",
                str(port),
                "--storage-path",
                str(storage_path) if storage_path is not None else ":memory:",
                "--transaction-lifetime-seconds",
                str(transaction_lifetime_seconds),
                # On disk, an acknowledged commit must survive the process being killed, as a
                # journaled (w: majority) commit does on MongoDB; without the flag SecantusDB
                # acknowledges before its log is written out (docs/reliability.md).
                *(["--sync-on-commit"] if storage_path is not None else []),
            ],
            run_dir=run_dir,
            cwd=self.home,
            ports=(port,),
            readiness=lambda: port_open(port) and mongodb_answers(self.mongodb_uri),
            ready_timeout=30,
        )

    @staticmethod
    def config_file_in(home: Path) -> Path:
        """The server's (empty) config file: an explicit one turns off discovery of others."""
        return home / "secantusd.toml"

    @property
    def config_file(self) -> Path:
        """This server's config file."""
        return self.config_file_in(self.home)

    @property
    def mongodb_uri(self) -> str:
        """The connection string clients use."""
        return f"mongodb://{LOCALHOST}:{self.port}/?directConnection=true"

    def endpoints(self) -> dict[str, str]:
        """Connection details to show to a developer."""
        return {"MongoDB URI": self.mongodb_uri}

    def prepare(self) -> None:
        """Creates the server's directories and its empty config file."""
        self.home.mkdir(parents=True, exist_ok=True)
        self.config_file.touch()
        if self.storage_path is not None:
            self.storage_path.mkdir(parents=True, exist_ok=True)


class SmtpSink(InfraComponent):
    """The SMTP sink (crm_devstack.smtp_sink) as its own process."""

    def __init__(
        self,
        run_dir: Path,
        smtp_port: int,
        http_port: int,
        *,
        messages_dir: Path | None = None,
        name: str = "smtp-sink",
    ) -> None:
        """Describes the sink; messages land in messages_dir (default <run_dir>/smtp/messages)."""
        self.name = name
        self.run_dir = run_dir
        self.host = LOCALHOST
        self.port = smtp_port
        self.http_port = http_port
        self.messages_dir = messages_dir or run_dir / "smtp" / "messages"
        self.process = ManagedProcess(
            name=name,
            argv=[
                sys.executable,
                "-m",
                "crm_devstack.smtp_sink",
                "--smtp-port",
                str(smtp_port),
                "--http-port",
                str(http_port),
                "--dir",
                str(self.messages_dir),
            ],
            run_dir=run_dir,
            env={"PYTHONUNBUFFERED": "1"},
            ports=(smtp_port, http_port),
            readiness=lambda: port_open(smtp_port) and http_ok(self.messages_url),
            ready_timeout=20,
        )

    @property
    def http_url(self) -> str:
        """Base URL of the sink's HTTP view."""
        return f"http://{LOCALHOST}:{self.http_port}"

    @property
    def messages_url(self) -> str:
        """URL listing the received messages as JSON."""
        return f"{self.http_url}/messages"

    def endpoints(self) -> dict[str, str]:
        """Connection details to show to a developer."""
        return {"SMTP": f"{self.host}:{self.port}", "SMTP sink": self.messages_url}

    def read_messages(self) -> list[ReceivedMessage]:
        """The messages received so far, oldest first."""
        return read_messages(self.messages_dir)


class AtsSimulator(InfraComponent):
    """A simulated ATS account (`python -m crm_devstack.ats.<provider>`) as its own process,
    seeded with past applicants, some of them the demo tenant's people."""

    def __init__(
        self,
        run_dir: Path,
        provider: str,
        port: int,
        *,
        applications: int,
        known_people: int,
    ) -> None:
        self.name = provider
        self.provider = provider
        self.port = port
        # Greenhouse's Harvest v3 takes OAuth client credentials, written as a connection holds
        # them; Lever an API key.
        self.api_key = (
            "greenhouse-demo-client:greenhouse-demo-secret"
            if provider == "greenhouse"
            else f"{provider}-demo-key"
        )
        self.process = ManagedProcess(
            name=self.name,
            argv=[
                sys.executable,
                "-m",
                f"crm_devstack.ats.{provider}",
                "--port",
                str(port),
                "--api-key",
                self.api_key,
                "--applications",
                str(applications),
                "--known-people",
                str(known_people),
            ],
            run_dir=run_dir,
            env={"PYTHONUNBUFFERED": "1"},
            ports=(port,),
            readiness=lambda: http_ok(f"{self.url}{ATS_SIMULATOR_READY_PATH}"),
            ready_timeout=60,
        )

    @property
    def url(self) -> str:
        """Base URL of the account's process (its control API is under `/admin`)."""
        return f"http://{LOCALHOST}:{self.port}"

    @property
    def api_url(self) -> str:
        """The account's API, as a connection's `api_base_url`."""
        return f"{self.url}/v3" if self.provider == "greenhouse" else f"{self.url}/v1"

    def endpoints(self) -> dict[str, str]:
        """Connection details to show to a developer."""
        return {f"Simulated {self.provider.capitalize()}": self.api_url}


class Zipkin(InfraComponent):
    """Zipkin server (in-memory storage) collecting spans and serving the trace UI.

    Its storage is bounded: past `max_spans` it drops the oldest traces. Unbounded (its default
    is 500,000 spans), a 1,000-row import and a short journey filled a 256 MiB heap, and the
    viewer then spent its time collecting garbage, answering nothing, while every service's
    exporter timed out. At about 1.5 KiB a span in memory, 100,000 spans fit the 512 MiB heap
    with room to spare. Out of memory anyway, the JVM exits rather than hangs, and the stack goes
    on without a viewer: it is optional.
    """

    optional = True

    def __init__(
        self,
        run_dir: Path,
        port: int,
        *,
        cache_dir: Path | None = None,
        heap: str = "512m",
        max_spans: int = 100_000,
        name: str = "zipkin",
    ) -> None:
        """Describes the server; nothing is fetched or started yet."""
        self.name = name
        self.run_dir = run_dir
        self.port = port
        self.cache_dir = cache_dir
        self.process = ManagedProcess(
            name=name,
            argv=[
                java_executable(),
                f"-Xmx{heap}",
                "-XX:+ExitOnOutOfMemoryError",
                # C1 only: a trace viewer gains nothing from C2 and starts about 15% faster.
                "-XX:TieredStopAtLevel=1",
                "-Djava.awt.headless=true",
                "-jar",
                str(zipkin_jar_path(cache_dir)),
                # QUERY_PORT alone binds every interface; this keeps Zipkin on loopback.
                f"--armeria.ports[0].ip={LOCALHOST}",
                f"--armeria.ports[0].port={port}",
            ],
            run_dir=run_dir,
            env={"QUERY_PORT": str(port), "STORAGE_TYPE": "mem", "MEM_MAX_SPANS": str(max_spans)},
            ports=(port,),
            readiness=lambda: http_ok(f"{self.url}/health"),
            ready_timeout=90,
        )

    @property
    def url(self) -> str:
        """Base URL of the Zipkin server."""
        return f"http://{LOCALHOST}:{self.port}"

    @property
    def ui_url(self) -> str:
        """URL of the trace UI."""
        return f"{self.url}/zipkin/"

    @property
    def spans_endpoint(self) -> str:
        """URL spans are POSTed to (OTEL_EXPORTER_ZIPKIN_ENDPOINT)."""
        return f"{self.url}/api/v2/spans"

    def endpoints(self) -> dict[str, str]:
        """Connection details to show to a developer."""
        return {"Trace UI": self.ui_url}

    def prepare(self) -> None:
        """Fetches the Zipkin jar if the cache lacks it."""
        ensure_zipkin_jar(self.cache_dir)


def start_kafka(
    run_dir: Path, port: int, controller_port: int, *, cache_dir: Path | None = None
) -> KafkaBroker:
    """Starts a single-node Kafka with its data under run_dir and waits until it serves."""
    return KafkaBroker(run_dir, port, controller_port, cache_dir=cache_dir).start()


def start_mongodb(run_dir: Path, port: int, *, storage_path: Path | None = None) -> MongoServer:
    """Starts SecantusDB (in memory unless storage_path is given) and waits until it answers."""
    return MongoServer(run_dir, port, storage_path=storage_path).start()


def start_smtp_sink(
    run_dir: Path, smtp_port: int, http_port: int, *, messages_dir: Path | None = None
) -> SmtpSink:
    """Starts the SMTP sink process and waits until both its ports answer."""
    return SmtpSink(run_dir, smtp_port, http_port, messages_dir=messages_dir).start()


def start_zipkin(run_dir: Path, port: int, *, cache_dir: Path | None = None) -> Zipkin:
    """Starts Zipkin and waits until its health endpoint reports UP."""
    return Zipkin(run_dir, port, cache_dir=cache_dir).start()
