"""The local stack runs the Rust SecantusDB server whenever it is built, else the Python one."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from crm_devstack.config import StackConfig
from crm_devstack.servers import stack_database_server

pytestmark = pytest.mark.unit


def built_rust_server(cache_dir: Path) -> Path:
    binary = cache_dir / "secantus-rs" / "bin" / "secantusd-rs"
    binary.parent.mkdir(parents=True)
    binary.write_text("#!/bin/sh\n")
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    return binary


@pytest.fixture(autouse=True)
def no_server_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CRM_BENCH_SECANTUSD_RS", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")


def test_the_rust_server_is_used_when_it_is_built(tmp_path: Path) -> None:
    binary = built_rust_server(tmp_path / "cache")
    config = StackConfig(run_dir=tmp_path / "run", cache_dir=tmp_path / "cache")

    server = stack_database_server(config)

    assert server.name == "secantusd-rs"
    assert server.process.argv[0] == str(binary)
    assert "--port" in server.process.argv


def test_the_python_server_is_used_when_the_rust_one_is_not_built(tmp_path: Path) -> None:
    config = StackConfig(run_dir=tmp_path / "run", cache_dir=tmp_path / "cache")
    assert stack_database_server(config).name == "mongodb"


def test_the_python_server_can_be_chosen_over_a_built_rust_one(tmp_path: Path) -> None:
    built_rust_server(tmp_path / "cache")
    config = StackConfig(
        run_dir=tmp_path / "run", cache_dir=tmp_path / "cache", database_server="python"
    )
    assert stack_database_server(config).name == "mongodb"


def test_asking_for_the_rust_server_when_it_is_not_built_says_how_to_build_it(
    tmp_path: Path,
) -> None:
    config = StackConfig(
        run_dir=tmp_path / "run", cache_dir=tmp_path / "cache", database_server="rust"
    )
    with pytest.raises(RuntimeError, match="make bench-server"):
        stack_database_server(config)
