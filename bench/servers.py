"""The MongoDB-wire server the full benchmarks run on.

SecantusDB's Python server is 4-17x slower than mongod by its authors' own benchmark, which
would hide our own costs at 100k-1M documents; its Rust server (`secantusd-rs`, from the
`secantus-mdb` crate) is what the full mode should use. `make bench-server` builds it into the
cache; the suite falls back to the Python server, and says so, when it is not there.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from crm_devstack.config import default_cache_dir
from crm_devstack.infra import LOCALHOST, InfraComponent, mongodb_answers
from crm_devstack.processes import ManagedProcess, port_open

RUST_SERVER_NAME = "SecantusDB Rust server (secantusd-rs 0.5.3-beta.196)"
PYTHON_SERVER_NAME = "SecantusDB Python server"


def rust_server_binary() -> Path | None:
    """Where `secantusd-rs` is: CRM_BENCH_SECANTUSD_RS, the cache, or the PATH."""
    candidates = [
        os.environ.get("CRM_BENCH_SECANTUSD_RS", ""),
        str(default_cache_dir() / "secantus-rs" / "bin" / "secantusd-rs"),
        shutil.which("secantusd-rs") or "",
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return Path(candidate)
    return None


def postfix_sink_binary() -> Path | None:
    """Postfix's `smtp-sink` (C, event-driven), unpacked by `make bench-sink`, or on the PATH."""
    candidates = [
        str(default_cache_dir() / "postfix" / "usr" / "sbin" / "smtp-sink"),
        shutil.which("smtp-sink") or "",
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return Path(candidate)
    return None


class RustMongoServer(InfraComponent):
    """`secantusd-rs` on a fresh WiredTiger directory under `run_dir`."""

    def __init__(self, binary: Path, run_dir: Path, port: int, *, cache_size: str = "2G") -> None:
        self.name = "secantusd-rs"
        self.port = port
        self.home = run_dir / self.name
        self.process = ManagedProcess(
            name=self.name,
            argv=[
                str(binary),
                # An explicit (empty) config file turns off discovery of ./secantusd.toml.
                "--config",
                str(self.home / "secantusd.toml"),
                "--host",
                LOCALHOST,
                "--port",
                str(port),
                "--storage-path",
                str(self.home / "data"),
                "--cache-size",
                cache_size,
                "--log-level",
                "WARNING",
            ],
            run_dir=run_dir,
            cwd=self.home,
            ports=(port,),
            readiness=lambda: port_open(port) and mongodb_answers(self.mongodb_uri),
            ready_timeout=30,
        )

    @property
    def mongodb_uri(self) -> str:
        """The connection string clients use."""
        return f"mongodb://{LOCALHOST}:{self.port}/?directConnection=true"

    def endpoints(self) -> dict[str, str]:
        """Connection details to show to a developer."""
        return {"MongoDB URI": self.mongodb_uri}

    def prepare(self) -> None:
        """Creates the server's directories and its empty config file."""
        (self.home / "data").mkdir(parents=True, exist_ok=True)
        (self.home / "secantusd.toml").touch()
