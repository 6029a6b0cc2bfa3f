"""The MongoDB-wire server the local stack and the full benchmarks run on, and the C SMTP sink.

SecantusDB's Python server is 4-17x slower than mongod by its authors' own benchmark, which
would hide our own costs at 100k-1M documents; its Rust server (`secantusd-rs`, from the
`secantus-mdb` crate) is what the full benchmarks and the local stack use whenever it is built
(`make bench-server` builds it into the cache); both fall back to the Python server, and say
so, when it is not there.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from crm_devstack.config import StackConfig, default_cache_dir
from crm_devstack.infra import LOCALHOST, MongoServer

RUST_SERVER_NAME = "SecantusDB Rust server (secantusd-rs 0.5.3-beta.196)"
PYTHON_SERVER_NAME = "SecantusDB Python server"


def rust_server_binary(cache_dir: Path | None = None) -> Path | None:
    """Where `secantusd-rs` is: CRM_BENCH_SECANTUSD_RS, the cache, or the PATH."""
    candidates = [
        os.environ.get("CRM_BENCH_SECANTUSD_RS", ""),
        str((cache_dir or default_cache_dir()) / "secantus-rs" / "bin" / "secantusd-rs"),
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
    binary: Path, run_dir: Path, port: int, *, cache_size: str = "2G", name: str = "secantusd-rs"
) -> MongoServer:
    """`secantusd-rs` on a WiredTiger directory under `run_dir` (kept between starts)."""
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


def stack_database_server(config: StackConfig) -> MongoServer:
    """The local stack's database: the Rust server (`secantusd-rs` in `crm-stack status`) when
    it is built and CRM_STACK_DATABASE_SERVER allows it (`auto`, the default, or `rust`), else
    the Python one (`mongodb`).

    Each keeps its data in a directory of its own (`mongodb/` and `secantusd-rs/`), since their
    storage formats differ: switching servers starts from an empty database."""
    binary = rust_server_binary(config.cache_dir) if config.database_server != "python" else None
    if config.database_server == "rust" and binary is None:
        raise RuntimeError(
            "CRM_STACK_DATABASE_SERVER=rust, but the Rust SecantusDB server is not built: "
            "run `make bench-server` first"
        )
    if binary is not None:
        return rust_mongo_server(binary, config.run_dir, config.mongodb_port, cache_size="1G")
    return MongoServer(
        config.run_dir, config.mongodb_port, storage_path=config.run_dir / "mongodb" / "data"
    )
