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
from crm_devstack.infra import LOCALHOST, MongoServer

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


def rust_mongo_server(
    binary: Path, run_dir: Path, port: int, *, cache_size: str = "2G"
) -> MongoServer:
    """`secantusd-rs` on a fresh WiredTiger directory under `run_dir`."""
    name = "secantusd-rs"
    data = run_dir / name / "data"
    return MongoServer(
        run_dir,
        port,
        name=name,
        storage_path=data,
        server_argv=[
            str(binary),
            # An explicit (empty) config file turns off discovery of ./secantusd.toml.
            "--config",
            str(MongoServer.config_file_in(run_dir / name)),
            "--host",
            LOCALHOST,
            "--port",
            str(port),
            "--storage-path",
            str(data),
            "--cache-size",
            cache_size,
            "--log-level",
            "WARNING",
        ],
    )
