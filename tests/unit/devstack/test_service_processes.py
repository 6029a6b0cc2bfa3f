"""How the local stack starts the services' uvicorn processes."""

from __future__ import annotations

from pathlib import Path

import pytest

from crm_devstack.cli import REPLICAS_FILE, started_replicas
from crm_devstack.config import MAX_REPLICAS, StackConfig
from crm_devstack.stack import GATEWAY_UPSTREAM_VARS, service_processes, services_config
from crm_shared import (
    InternalTokenSigner,
    InternalTokenVerifier,
    KeyRing,
    Principal,
    load_private_key,
    load_public_key,
)

pytestmark = pytest.mark.unit


def test_no_service_lets_uvicorn_rewrite_the_client_from_headers(tmp_path: Path) -> None:
    processes = service_processes(StackConfig(run_dir=tmp_path))
    assert len(processes) == 7  # six services and the console
    for process in processes:
        assert "--no-proxy-headers" in process.argv, process.name


def test_the_gateway_serves_metrics_on_a_loopback_port_of_its_own(tmp_path: Path) -> None:
    config = StackConfig(run_dir=tmp_path)
    [gateway] = [p for p in service_processes(config) if p.name == "gateway"]
    assert gateway.env["METRICS_PORT"] == str(config.gateway_metrics_port)
    assert config.gateway_metrics_port in gateway.ports


def test_the_stack_runs_in_development_with_a_key_pair_of_its_own(tmp_path: Path) -> None:
    processes = {p.name: p for p in service_processes(StackConfig(run_dir=tmp_path))}
    assert {p.env["ENVIRONMENT"] for p in processes.values()} == {"development"}
    private = Path(processes["gateway"].env["INTERNAL_TOKEN_PRIVATE_KEY"])
    assert private.stat().st_mode & 0o777 == 0o600
    signer = InternalTokenSigner(load_private_key(str(private)))
    principal = Principal(tenant_id="acme", user_id="rita")
    for name, process in processes.items():
        if name == "gateway":
            continue
        # Only the gateway can mint; every service verifies with the public half.
        assert "INTERNAL_TOKEN_PRIVATE_KEY" not in process.env, name
        verifier = InternalTokenVerifier(
            load_public_key(process.env["INTERNAL_TOKEN_PUBLIC_KEY"]), name
        )
        assert verifier.verify(signer.mint(principal, name)) == principal
    # A restart of the stack keeps its keys.
    again = {p.name: p for p in service_processes(StackConfig(run_dir=tmp_path))}
    assert Path(again["gateway"].env["INTERNAL_TOKEN_PRIVATE_KEY"]).read_text() == (
        private.read_text()
    )


def test_the_gateway_serves_the_console_which_calls_the_gateway_back(tmp_path: Path) -> None:
    config = StackConfig(run_dir=tmp_path)
    by_name = {process.name: process for process in service_processes(config)}
    assert by_name["gateway"].env["CONSOLE_URL"] == f"http://127.0.0.1:{config.console_port}"
    assert by_name["console"].env["GATEWAY_URL"] == f"http://127.0.0.1:{config.gateway_port}"
    assert "INTERNAL_TOKEN_PRIVATE_KEY" not in by_name["console"].env


def test_ats_sync_alone_gets_a_secret_key_of_the_run_which_it_accepts(tmp_path: Path) -> None:
    processes = {p.name: p for p in service_processes(StackConfig(run_dir=tmp_path))}
    keys = processes["ats-sync"].env["ATS_SECRET_KEYS"]
    assert KeyRing.parse(keys, setting="ATS_SECRET_KEYS").current_id == "dev"
    assert [n for n, p in processes.items() if "ATS_SECRET_KEYS" in p.env] == ["ats-sync"]
    # A restart keeps it: connections sealed under it stay readable.
    again = {p.name: p for p in service_processes(StackConfig(run_dir=tmp_path))}
    assert again["ats-sync"].env["ATS_SECRET_KEYS"] == keys
    other_run = service_processes(StackConfig(run_dir=tmp_path / "other"))
    assert {p.env.get("ATS_SECRET_KEYS") for p in other_run if p.name == "ats-sync"} != {keys}


def test_each_replica_is_a_process_of_its_own_sharing_the_services_groups(tmp_path: Path) -> None:
    config = StackConfig(run_dir=tmp_path, replicas=2)
    processes = {p.name: p for p in service_processes(config)}
    assert len(processes) == 14
    for service in config.service_ports:
        first, second = processes[service], processes[f"{service}-2"]
        assert (
            second.argv[second.argv.index("--factory") + 1]
            == (first.argv[first.argv.index("--factory") + 1])
        )
        # The same consumer groups, database and secrets: one service, two processes.
        own = {"METRICS_PORT", *GATEWAY_UPSTREAM_VARS.values()}
        assert {k: v for k, v in second.env.items() if k not in own} == {
            k: v for k, v in first.env.items() if k not in own
        }
        assert second.ports[0] == first.ports[0] + config.replica_port_step
        assert second.log_path != first.log_path
        assert second.pid_path != first.pid_path
    gateways = [processes["gateway"], processes["gateway-2"]]
    assert len({g.env["METRICS_PORT"] for g in gateways}) == 2
    # Each gateway talks to its own replica of each service: HTTP spreads as a Service's does.
    for replica, gateway in enumerate(gateways):
        for service, variable in GATEWAY_UPSTREAM_VARS.items():
            port = config.replica_ports(service)[replica]
            assert gateway.env[variable] == f"http://127.0.0.1:{port}"
    every_port = [port for p in processes.values() for port in p.ports]
    assert len(every_port) == len(set(every_port))


def test_a_test_stack_gets_free_ports_for_every_replica(tmp_path: Path) -> None:
    config = services_config(
        bootstrap_servers="127.0.0.1:19092",
        mongodb_uri="mongodb://127.0.0.1:27117/?directConnection=true",
        smtp_port=1025,
        run_dir=tmp_path,
        kafka_group_prefix="t",
        replicas=3,
    )
    processes = service_processes(config)
    assert len(processes) == 21
    every_port = [port for p in processes for port in p.ports]
    assert len(every_port) == len(set(every_port))


def test_down_and_status_find_the_replicas_up_started(tmp_path: Path) -> None:
    assert started_replicas(StackConfig(run_dir=tmp_path)).replicas == 1
    (tmp_path / REPLICAS_FILE).write_text("3")
    assert started_replicas(StackConfig(run_dir=tmp_path)).replicas == 3
    assert started_replicas(StackConfig(run_dir=tmp_path, replicas=4)).replicas == 4
    with pytest.raises(ValueError, match="less than or equal"):
        StackConfig(run_dir=tmp_path, replicas=MAX_REPLICAS + 1)
