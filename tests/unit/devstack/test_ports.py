"""The stack never listens inside the kernel's ephemeral port range, nor do the tests' servers."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from crm_devstack.cli import up
from crm_devstack.config import StackConfig, ephemeral_port_range
from crm_devstack.infra import free_ports

pytestmark = pytest.mark.unit


def test_the_range_is_read_from_the_kernel_and_has_a_fallback(tmp_path: Path) -> None:
    source = tmp_path / "ip_local_port_range"
    source.write_text("20000\t29999\n")
    assert ephemeral_port_range(source) == (20000, 29999)
    assert ephemeral_port_range(tmp_path / "missing") == (32768, 65535)


def test_free_ports_are_outside_the_ephemeral_range_distinct_and_bindable() -> None:
    low, high = ephemeral_port_range()
    ports = free_ports(40)
    assert len(set(ports)) == 40
    assert not [port for port in ports if low <= port <= high]
    for port in ports:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_free_ports_skip_a_port_in_use() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        # Taking every candidate but a handful shows the busy one is never among them.
        assert busy.getsockname()[1] not in free_ports(200)


def test_the_default_ports_are_outside_the_linux_default_range(tmp_path: Path) -> None:
    assert StackConfig(run_dir=tmp_path).ephemeral_port_problems((32768, 60999)) == []


def test_a_port_inside_the_range_is_named_with_the_range_and_the_way_out(tmp_path: Path) -> None:
    config = StackConfig(run_dir=tmp_path, kafka_port=39092, gateway_port=40000)
    problems = config.ephemeral_port_problems((32768, 60999))
    assert problems == [
        "CRM_STACK_KAFKA_PORT=39092 is inside the kernel's ephemeral port range 32768-60999 "
        "(/proc/sys/net/ipv4/ip_local_port_range), where outgoing connections can take it and "
        "leave the server unable to bind it; choose a port below 32768 or above 60999",
        "CRM_STACK_GATEWAY_PORT=40000 is inside the kernel's ephemeral port range 32768-60999 "
        "(/proc/sys/net/ipv4/ip_local_port_range), where outgoing connections can take it and "
        "leave the server unable to bind it; choose a port below 32768 or above 60999",
    ]


def test_crm_stack_up_refuses_such_a_port_before_starting_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    low, _ = ephemeral_port_range()
    config = StackConfig(run_dir=tmp_path / "run", kafka_port=low)
    assert up(config, infra_only=True) == 1
    error = capsys.readouterr().err
    assert f"CRM_STACK_KAFKA_PORT={config.kafka_port} is inside the kernel's ephemeral" in error
    assert "nothing was started" in error
    assert not (tmp_path / "run").exists()
