"""Keycloak in the local stack: the gateway's sign-in settings point at it, `up` starts it in
the background or says why not, `status` and `down` include it, and the sign-in guide says how
to sign in."""

from __future__ import annotations

import json
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from crm_devstack import cli
from crm_devstack.config import StackConfig
from crm_devstack.demo import guide
from crm_devstack.keycloak import (
    CLIENT_ID,
    DEMO_TENANT,
    DEMO_USERS,
    REALM_FILE,
    available_memory_mib,
    demo_user_ids,
)
from crm_devstack.processes import ProcessError
from crm_devstack.sign_in import SCRIPT_TOKEN, KeycloakState, login_url, sign_in_guide
from crm_devstack.stack import DEV_TOKENS, identity_provider, service_processes
from crm_gateway.config import GatewaySettings

pytestmark = pytest.mark.unit

REPO_ROOT = REALM_FILE.parents[3]


def _gateway_env(config: StackConfig) -> dict[str, str]:
    [gateway] = [process for process in service_processes(config) if process.name == "gateway"]
    return dict(gateway.env)


def test_the_gateway_trusts_the_stacks_keycloak_for_the_demo_tenant(tmp_path: Path) -> None:
    config = StackConfig(run_dir=tmp_path, keycloak_port=18180)
    env = _gateway_env(config)
    # Parsed as the gateway parses it: the https-except-loopback rule holds for this issuer.
    settings = GatewaySettings(
        tenants=json.loads(env["TENANTS"]), oidc=json.loads(env["OIDC"]), environment="development"
    )
    [acme] = [tenant for tenant in settings.bootstrap_tenants() if tenant.tenant_id == DEMO_TENANT]
    assert acme.sign_in.issuer == "http://127.0.0.1:18180/realms/recruitcrm"
    assert acme.sign_in.issuer == identity_provider(config).issuer
    assert acme.sign_in.audience == CLIENT_ID
    # The realm's users carry the tenant in `tenant_id`; the realm roles are ours by name.
    assert acme.sign_in.tenant_claim == "tenant_id"
    assert acme.sign_in.roles_claim == "realm_access.roles"
    assert not acme.sign_in.role_mapping
    # Members join on first sign-in, with the roles the realm gives them.
    assert acme.sign_in.jit_provisioning
    assert acme.sign_in.roles_from_token
    # Development tokens stay the scripts' way in.
    assert json.loads(env["DEV_TOKENS"]) == DEV_TOKENS


def test_the_demo_users_keep_their_subject_across_keycloak_restarts() -> None:
    ids = demo_user_ids()
    assert set(ids) == set(DEMO_USERS)
    assert len(set(ids.values())) == len(ids)
    # Fixed in the realm file, which every start imports afresh.
    realm = json.loads(REALM_FILE.read_text())
    assert all(user.get("id") for user in realm["users"])


def test_available_memory_is_read_from_meminfo(tmp_path: Path) -> None:
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       24684544 kB\nMemAvailable:     524288 kB\n")
    assert available_memory_mib(meminfo) == 512
    assert available_memory_mib(tmp_path / "absent") is None


def test_keycloak_is_left_out_when_switched_off(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli._keycloak_wanted(StackConfig(run_dir=tmp_path, keycloak_enabled=False)) is None
    assert "CRM_STACK_KEYCLOAK_ENABLED=false" in capsys.readouterr().out


def test_keycloak_is_left_out_with_a_clear_message_when_memory_is_short(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli, "available_memory_mib", lambda: 300)
    assert cli._keycloak_wanted(StackConfig(run_dir=tmp_path)) is None
    said = capsys.readouterr().err
    assert "keycloak NOT started: 300 MiB of memory available" in said
    assert "development tokens work" in said
    monkeypatch.setattr(cli, "available_memory_mib", lambda: 4096)
    wanted = cli._keycloak_wanted(StackConfig(run_dir=tmp_path))
    assert wanted is not None
    assert wanted.port == 8180


def test_a_keycloak_that_cannot_start_is_reported_and_the_stack_goes_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keycloak = identity_provider(StackConfig(run_dir=tmp_path))
    launch: Future[bool] = Future()
    launch.set_exception(ProcessError("keycloak: port 8180 is already in use"))
    assert cli._keycloak_outcome(keycloak, launch) is KeycloakState.NOT_RUNNING
    said = capsys.readouterr().err
    assert "keycloak could not start: keycloak: port 8180 is already in use" in said
    assert "browser sign-in answers 503, development tokens work" in said
    assert cli._keycloak_outcome(None, None) is KeycloakState.NOT_RUNNING


def test_status_and_down_include_keycloak(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = StackConfig(run_dir=tmp_path)
    assert cli.status(config) == 0
    [row] = [line for line in capsys.readouterr().out.splitlines() if line.startswith("keycloak")]
    assert row.split()[1:] == ["stopped", "-", "-", "8180"]
    assert cli.down(config) == 0
    assert "  keycloak   was not running" in capsys.readouterr().out.splitlines()


@pytest.mark.parametrize("state", list(KeycloakState))
def test_the_guide_says_how_to_sign_in_with_a_browser_and_with_a_token(
    tmp_path: Path, state: KeycloakState
) -> None:
    config = StackConfig(run_dir=tmp_path, gateway_port=18000)
    text = sign_in_guide(config, state)
    assert "open the console at http://127.0.0.1:18000/console/ (organisation `acme`)" in text
    for username, (password, role) in DEMO_USERS.items():
        assert f"{username:<16} {password:<21} {role}" in text
    assert f"Authorization: Bearer {SCRIPT_TOKEN}" in text
    assert SCRIPT_TOKEN in DEV_TOKENS
    assert "grant_type=password" in text
    assert state.value.split()[0].upper() in text.upper()


def test_the_demo_guide_and_the_readme_tell_the_same(tmp_path: Path) -> None:
    config = StackConfig(run_dir=tmp_path)
    assert login_url(config) in guide(config)
    readme = (REPO_ROOT / "README.md").read_text()
    assert login_url(config) in readme
    for username, (password, _) in DEMO_USERS.items():
        assert f"`{username}` / `{password}`" in readme


@pytest.mark.parametrize("fetched", [False, True])
def test_up_says_keycloak_starts_in_the_background_and_what_a_first_start_costs(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    fetched: bool,
) -> None:
    config = StackConfig(run_dir=tmp_path, cache_dir=tmp_path / "cache")
    keycloak = identity_provider(config)
    if fetched:
        launcher = keycloak.home / "bin" / "kc.sh"
        launcher.parent.mkdir(parents=True)
        launcher.touch()
    launched: list[bool] = []

    def launch() -> bool:
        launched.append(True)
        return True

    # Fetching and starting the JVM is the background thread's job, not this test's.
    monkeypatch.setattr(keycloak, "launch", launch)
    with ThreadPoolExecutor(max_workers=1) as pool:
        assert cli._launch_in_background(keycloak, pool).result() is True
    assert launched == [True]
    said = capsys.readouterr().out
    assert "keycloak   starting in the background" in said
    assert ("first start on this machine: fetching Keycloak 26.7.3" in said) is not fetched
