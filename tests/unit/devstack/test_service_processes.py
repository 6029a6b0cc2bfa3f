"""How the local stack starts the services' uvicorn processes."""

from __future__ import annotations

from pathlib import Path

import pytest

from crm_devstack.config import StackConfig
from crm_devstack.stack import service_processes

pytestmark = pytest.mark.unit


def test_no_service_lets_uvicorn_rewrite_the_client_from_headers(tmp_path: Path) -> None:
    processes = service_processes(StackConfig(run_dir=tmp_path))
    assert len(processes) == 6
    for process in processes:
        assert "--no-proxy-headers" in process.argv, process.name


def test_the_gateway_serves_metrics_on_a_loopback_port_of_its_own(tmp_path: Path) -> None:
    config = StackConfig(run_dir=tmp_path)
    [gateway] = [p for p in service_processes(config) if p.name == "gateway"]
    assert gateway.env["METRICS_PORT"] == str(config.gateway_metrics_port)
    assert config.gateway_metrics_port in gateway.ports
