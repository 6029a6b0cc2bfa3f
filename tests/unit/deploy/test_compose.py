"""docker-compose.yml, the root Dockerfile and .dockerignore, checked structurally.

No Docker engine runs on the development machines or in CI, so these tests are what keeps the
deployment files in step with the workspace: every service under services/ must be built from
the one Dockerfile, wired to Kafka, MongoDB and tracing, health-checked on /readyz and started
only after its infrastructure; only the gateway (plus two loopback-only UIs) reaches the host.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from crm_devstack.infra import KAFKA_VERSION
from crm_devstack.keycloak import KEYCLOAK_VERSION
from crm_gateway.config import GatewaySettings
from crm_shared.bootstrap import SERVER_KEEP_ALIVE_SECONDS

pytestmark = pytest.mark.unit

REPO_ROOT = Path(__file__).resolve().parents[3]
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
DOCKERFILE = REPO_ROOT / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"

# The services the CRM is known to have; discovery below must find at least these.
KNOWN_SERVICES = {"gateway", "candidates", "campaigns", "events", "ats-sync", "analytics"}

# Everything published to the host, as (host ip, host port, container port); "" = all interfaces.
EXPECTED_PUBLISHED_PORTS: dict[str, set[tuple[str, str, str]]] = {
    "gateway": {("", "8000", "8000")},
    "jaeger": {("127.0.0.1", "16686", "16686")},
    "smtp": {("127.0.0.1", "8025", "8025")},
    "keycloak": {("127.0.0.1", "8180", "8080")},
}

CONSOLE_ENV = ("INTERNAL_TOKEN_PUBLIC_KEY", "OTEL_TRACES_EXPORTER", "GATEWAY_URL")
COMMON_ENV = (
    "KAFKA_BOOTSTRAP_SERVERS",
    "MONGODB_URI",
    "INTERNAL_TOKEN_PUBLIC_KEY",
    "LINK_SIGNING_SECRET",
    "OTEL_TRACES_EXPORTER",
)


def workspace_services() -> list[str]:
    """Directory names of the workspace members under services/ (each has a pyproject.toml)."""
    return sorted(path.parent.name for path in (REPO_ROOT / "services").glob("*/pyproject.toml"))


SERVICES = workspace_services()
# The console holds no data: it calls the gateway's public API, never Kafka or MongoDB.
DATA_SERVICES = [name for name in SERVICES if name != "console"]


# --------------------------------------------------------------------------------- helpers


@cache
def compose() -> dict[str, Any]:
    """docker-compose.yml as plain data (YAML anchors and merge keys resolved)."""
    data = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict), "docker-compose.yml must be a mapping"
    return data


def compose_services() -> dict[str, dict[str, Any]]:
    services = compose().get("services")
    assert isinstance(services, dict), "docker-compose.yml has no services mapping"
    return services


def service(name: str) -> dict[str, Any]:
    services = compose_services()
    assert name in services, f"docker-compose.yml has no service {name!r}"
    definition = services[name]
    assert isinstance(definition, dict)
    return definition


def key_values(value: Any) -> dict[str, str]:
    """Compose's environment / build-args forms (mapping or KEY=VALUE list) as a str dict."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return {str(key): "" if item is None else str(item) for key, item in value.items()}
    assert isinstance(value, list), f"unexpected environment form: {value!r}"
    pairs = (str(entry).partition("=") for entry in value)
    return {key: item for key, _, item in pairs}


def environment(name: str) -> dict[str, str]:
    return key_values(service(name).get("environment"))


def dependencies(name: str) -> dict[str, str]:
    """depends_on as {service: condition}; the short list form means service_started."""
    value = service(name).get("depends_on")
    if value is None:
        return {}
    if isinstance(value, list):
        return {str(dependency): "service_started" for dependency in value}
    assert isinstance(value, Mapping)
    conditions = {}
    for dependency, options in value.items():
        condition = (options or {}).get("condition", "service_started")
        conditions[str(dependency)] = str(condition)
    return conditions


def published_ports(name: str) -> set[tuple[str, str, str]]:
    """A service's `ports`, short or long syntax, as (host ip, host port, container port)."""
    published: set[tuple[str, str, str]] = set()
    for entry in service(name).get("ports") or []:
        if isinstance(entry, Mapping):
            published.add(
                (
                    str(entry.get("host_ip", "")),
                    str(entry.get("published", "")),
                    str(entry["target"]),
                )
            )
            continue
        spec = str(entry).split("/", 1)[0]
        parts = spec.rsplit(":", 2)
        if len(parts) == 1:  # container port only: Docker picks a host port on all interfaces
            published.add(("", "", parts[0]))
        elif len(parts) == 2:
            published.add(("", parts[0], parts[1]))
        else:
            published.add((parts[0].strip("[]"), parts[1], parts[2]))
    return published


def healthcheck_command(name: str) -> str:
    """The healthcheck's test as one string; fails if there is none or it is disabled."""
    healthcheck = service(name).get("healthcheck")
    assert isinstance(healthcheck, Mapping), f"{name} has no healthcheck"
    assert not healthcheck.get("disable"), f"{name} disables its healthcheck"
    test = healthcheck.get("test")
    assert test, f"{name}'s healthcheck has no test"
    if isinstance(test, str):
        return test
    assert test[0] in ("CMD", "CMD-SHELL"), f"{name}'s healthcheck test: {test!r}"
    return " ".join(str(part) for part in test[1:])


def command_words(name: str) -> list[str]:
    command = service(name).get("command")
    if command is None:
        return []
    return command.split() if isinstance(command, str) else [str(word) for word in command]


@cache
def dockerfile_instructions() -> list[tuple[str, str]]:
    """The Dockerfile as (INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw_line in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw_line.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        keyword, _, arguments = line.partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
    assert not pending, "the Dockerfile ends in a line continuation"
    return instructions


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[last_from:]


def dockerignore_patterns() -> list[tuple[bool, re.Pattern[str]]]:
    """(is exception, regex) for each .dockerignore line, Docker's matching approximated."""
    patterns: list[tuple[bool, re.Pattern[str]]] = []
    for raw_line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines():
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        exception = line.startswith("!")
        pattern = line.lstrip("!").strip().strip("/")
        regex = ""
        index = 0
        while index < len(pattern):
            if pattern.startswith("**/", index):
                regex += "(?:.*/)?"
                index += 3
            elif pattern.startswith("**", index):
                regex += ".*"
                index += 2
            elif pattern[index] == "*":
                regex += "[^/]*"
                index += 1
            elif pattern[index] == "?":
                regex += "[^/]"
                index += 1
            elif pattern[index] == "[":
                end = pattern.index("]", index)
                regex += pattern[index : end + 1]
                index = end + 1
            else:
                regex += re.escape(pattern[index])
                index += 1
        patterns.append((exception, re.compile(regex)))
    return patterns


def excluded_from_build_context(relative_path: str) -> bool:
    """Whether .dockerignore keeps a path (or a directory above it) out of the build context."""
    parts = relative_path.split("/")
    prefixes = ["/".join(parts[: length + 1]) for length in range(len(parts))]
    excluded = False
    for exception, regex in dockerignore_patterns():
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            excluded = not exception
    return excluded


def workspace_members() -> list[str]:
    """Every workspace member directory (relative), from the root pyproject's member globs."""
    root = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    members: list[str] = []
    for pattern in root["tool"]["uv"]["workspace"]["members"]:
        for path in sorted(REPO_ROOT.glob(pattern)):
            if (path / "pyproject.toml").is_file():
                members.append(path.relative_to(REPO_ROOT).as_posix())
    return members


# ------------------------------------------------------------------- workspace <-> compose


def test_service_discovery_finds_the_workspace_services() -> None:
    assert set(SERVICES) >= KNOWN_SERVICES


@pytest.mark.parametrize("name", SERVICES)
def test_every_workspace_service_is_in_compose(name: str) -> None:
    assert name in compose_services(), f"services/{name} is not deployed by docker-compose.yml"


@pytest.mark.parametrize("name", SERVICES)
def test_service_package_names_match_what_the_dockerfile_derives(name: str) -> None:
    project = tomllib.loads(
        (REPO_ROOT / "services" / name / "pyproject.toml").read_text(encoding="utf-8")
    )
    assert project["project"]["name"] == f"crm-{name}"
    package = f"crm_{name.replace('-', '_')}"
    assert (REPO_ROOT / "services" / name / "src" / package).is_dir()


# -------------------------------------------------------------------------- the services


@pytest.mark.parametrize("name", SERVICES)
def test_service_is_built_from_the_root_dockerfile(name: str) -> None:
    build = service(name).get("build")
    assert isinstance(build, Mapping), f"{name} must use the long build form"
    assert build.get("context") in (".", "./")
    assert build.get("dockerfile") == "Dockerfile"
    assert key_values(build.get("args")).get("SERVICE") == name
    assert service(name).get("image") == f"recruitcrm/{name}:latest"


@pytest.mark.parametrize("name", SERVICES)
def test_service_environment(name: str) -> None:
    env = environment(name)
    needed = COMMON_ENV if name in DATA_SERVICES else CONSOLE_ENV
    missing = [variable for variable in needed if not env.get(variable)]
    assert not missing, f"{name} lacks {missing}"
    assert env.get("SERVICE_NAME") == name
    if name in DATA_SERVICES:
        assert "replicaSet=" in env["MONGODB_URI"]
        assert env["MONGODB_URI"].startswith("mongodb://mongodb:27017/")
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    else:
        assert "MONGODB_URI" not in env
        assert env["GATEWAY_URL"] == "http://gateway:8000"
    assert env["OTEL_TRACES_EXPORTER"] == "otlp"
    assert env.get("OTEL_EXPORTER_OTLP_ENDPOINT") == "http://jaeger:4318"
    # Required from the caller's environment: never a default secret in the file.
    assert env["INTERNAL_TOKEN_PUBLIC_KEY"].startswith("${INTERNAL_TOKEN_PUBLIC_KEY:?")
    assert env["ENVIRONMENT"] == "production"
    # Only the gateway can mint internal tokens.
    if name == "gateway":
        assert env["INTERNAL_TOKEN_PRIVATE_KEY"].startswith("${INTERNAL_TOKEN_PRIVATE_KEY:?")
    else:
        assert "INTERNAL_TOKEN_PRIVATE_KEY" not in env
    if name in DATA_SERVICES:
        assert env["LINK_SIGNING_SECRET"].startswith("${LINK_SIGNING_SECRET:?")
    if name == "campaigns":
        assert env["TRACKING_SECRET"].startswith("${TRACKING_SECRET:?")
    if name == "ats-sync":
        assert env["ATS_SECRET_KEYS"].startswith("${ATS_SECRET_KEYS:?")
    # Production authenticates callers otherwise; dev tokens must not leak into this stack.
    assert not env.get("DEV_TOKENS")


@pytest.mark.parametrize("name", SERVICES)
def test_service_healthcheck_probes_readiness(name: str) -> None:
    command = healthcheck_command(name)
    assert "/readyz" in command
    assert ":8000" in command


@pytest.mark.parametrize("name", DATA_SERVICES)
def test_service_waits_for_its_infrastructure_and_topics(name: str) -> None:
    depends = dependencies(name)
    assert depends.get("kafka") == "service_healthy"
    assert depends.get("mongodb") == "service_healthy"
    assert depends.get("kafka-init") == "service_completed_successfully"


def test_gateway_waits_for_every_other_service_and_routes_to_it() -> None:
    depends = dependencies("gateway")
    env = environment("gateway")
    for name in SERVICES:
        if name == "gateway":
            continue
        assert depends.get(name) == "service_healthy", f"gateway must wait for {name}"
        variable = f"{name.upper().replace('-', '_')}_URL"
        assert env.get(variable) == f"http://{name}:8000", variable


def test_campaigns_sends_mail_to_the_smtp_catcher() -> None:
    env = environment("campaigns")
    assert env.get("SMTP_HOST") in compose_services()
    assert env.get("SMTP_PORT", "").isdigit()


def test_candidates_keeps_import_files_in_the_object_store_not_the_database() -> None:
    env = environment("candidates")
    assert env["UPLOAD_STORE"] == "s3"
    store = env["UPLOAD_S3_ENDPOINT_URL"].removeprefix("http://").split(":")[0]
    assert store in compose_services()
    assert dependencies("candidates").get(store) == "service_healthy"
    # The secret comes from the caller's environment, never a default in the file.
    assert env["UPLOAD_S3_SECRET_ACCESS_KEY"].startswith("${OBJECTSTORE_SECRET_KEY:?")
    assert environment(store)["MINIO_ROOT_PASSWORD"].startswith("${OBJECTSTORE_SECRET_KEY:?")
    assert not published_ports(store)


def test_only_the_gateway_and_the_loopback_uis_are_published() -> None:
    published = {name: ports for name in compose_services() if (ports := published_ports(name))}
    assert published == EXPECTED_PUBLISHED_PORTS


def test_no_service_bypasses_the_compose_network() -> None:
    for name, definition in compose_services().items():
        assert definition.get("network_mode") is None, name


# ------------------------------------------------------------------------ infrastructure


def test_kafka_is_an_official_kraft_single_node_without_auto_topic_creation() -> None:
    kafka = service("kafka")
    match = re.fullmatch(r"apache/kafka:(\d+)\.(\d+)\.(\d+)", str(kafka.get("image")))
    assert match, f"kafka must use a pinned official apache/kafka image: {kafka.get('image')}"
    # Production runs what the tests ran: the same major.minor as the local stack's broker.
    assert match.groups()[:2] == tuple(KAFKA_VERSION.split(".")[:2]), (
        f"compose runs Kafka {'.'.join(match.groups())}, the local stack and tests {KAFKA_VERSION}"
    )
    env = environment("kafka")
    assert env.get("KAFKA_NODE_ID")
    assert set(env.get("KAFKA_PROCESS_ROLES", "").split(",")) == {"broker", "controller"}
    assert env.get("KAFKA_CONTROLLER_LISTENER_NAMES")
    assert env.get("KAFKA_CONTROLLER_QUORUM_VOTERS")
    assert env.get("CLUSTER_ID")
    assert env.get("KAFKA_AUTO_CREATE_TOPICS_ENABLE", "").lower() == "false"
    assert "PLAINTEXT://kafka:9092" in env.get("KAFKA_ADVERTISED_LISTENERS", "")
    factors = {key: value for key, value in env.items() if key.endswith("REPLICATION_FACTOR")}
    assert "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR" in factors
    assert "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR" in factors
    assert set(factors.values()) == {"1"}
    command = healthcheck_command("kafka")
    assert "/opt/kafka/bin/kafka-topics.sh" in command
    assert "--bootstrap-server localhost:9092" in command
    assert "--list" in command


def test_kafka_init_creates_the_topics_once_from_a_service_image() -> None:
    init = service("kafka-init")
    build = init.get("build")
    assert isinstance(build, Mapping)
    assert build.get("dockerfile") == "Dockerfile"
    assert key_values(build.get("args")).get("SERVICE") in SERVICES
    assert command_words("kafka-init") == ["python", "-m", "crm_shared.topics", "kafka:9092"]
    assert dependencies("kafka-init").get("kafka") == "service_healthy"
    assert str(init.get("restart", "no")) == "no"
    assert not published_ports("kafka-init")


def test_mongodb_is_a_replica_set_that_its_healthcheck_initiates() -> None:
    mongodb = service("mongodb")
    assert str(mongodb.get("image")).startswith("mongo:8")
    words = command_words("mongodb")
    assert "--replSet" in words
    replica_set = words[words.index("--replSet") + 1]
    assert "--bind_ip_all" in words
    for name in DATA_SERVICES:
        assert f"replicaSet={replica_set}" in environment(name)["MONGODB_URI"]
    command = healthcheck_command("mongodb")
    assert "mongosh" in command
    assert "rs.status()" in command
    assert "rs.initiate(" in command
    assert f"_id: '{replica_set}'" in command or f"_id:'{replica_set}'" in command
    assert "mongodb:27017" in command
    volumes = [str(volume) for volume in mongodb.get("volumes") or []]
    data_volume = next((v.split(":")[0] for v in volumes if v.endswith(":/data/db")), None)
    assert data_volume in (compose().get("volumes") or {}), "MongoDB data needs a named volume"


REALM_FILE = REPO_ROOT / "deploy" / "local" / "keycloak" / "realm-recruitcrm.json"
KEYCLOAK_IMPORT_DIR = "/opt/keycloak/data/import/"


def test_keycloak_is_the_pinned_official_image_importing_the_demo_realm() -> None:
    keycloak = service("keycloak")
    assert keycloak.get("image") == f"quay.io/keycloak/keycloak:{KEYCLOAK_VERSION}", (
        "compose must run the Keycloak version the local stack and the tests run"
    )
    words = command_words("keycloak")
    assert words[0] == "start-dev"
    assert "--import-realm" in words
    volumes = [str(volume) for volume in keycloak.get("volumes") or []]
    [realm] = [volume for volume in volumes if KEYCLOAK_IMPORT_DIR in volume]
    source, target, mode = realm.split(":")
    assert (REPO_ROOT / source).resolve() == REALM_FILE
    assert target == KEYCLOAK_IMPORT_DIR + REALM_FILE.name
    assert mode == "ro"
    env = environment("keycloak")
    # No default admin password in the file.
    assert env["KC_BOOTSTRAP_ADMIN_PASSWORD"].startswith("${KEYCLOAK_ADMIN_PASSWORD:?")
    assert "/health/ready" in healthcheck_command("keycloak")


def test_the_browser_and_the_gateway_know_keycloak_by_one_issuer() -> None:
    """The issuer is the URL a browser on the host uses (Keycloak's KC_HOSTNAME, on the
    published loopback port); the gateway reaches that origin on the compose network through
    its back-channel mapping, and a production gateway accepts that configuration."""
    hostname = environment("keycloak")["KC_HOSTNAME"]
    realm = json.loads(REALM_FILE.read_text())["realm"]
    gateway_env = environment("gateway")
    settings = GatewaySettings(
        environment=gateway_env["ENVIRONMENT"],
        tenants=json.loads(gateway_env["TENANTS"]),
        oidc=json.loads(gateway_env["OIDC"]),
    )
    [acme] = settings.bootstrap_tenants()
    assert acme.sign_in.issuer == f"{hostname}/realms/{realm}"
    assert acme.sign_in.audience == json.loads(REALM_FILE.read_text())["clients"][0]["clientId"]
    # The browser reaches the issuer's origin: the host port published on loopback.
    [(host_ip, host_port, container_port)] = published_ports("keycloak")
    assert hostname == f"http://localhost:{host_port}"
    assert host_ip == "127.0.0.1"
    # The gateway reaches the same server by its compose name and container port.
    assert settings.oidc.backchannel_urls == {hostname: f"http://keycloak:{container_port}"}
    assert f"--http-port={container_port}" in command_words("keycloak")
    assert settings.environment == "production"
    assert settings.production_refusals() == []
    assert dependencies("gateway").get("keycloak") == "service_started"


def test_tracing_and_mail_catchers_exist() -> None:
    assert str(service("jaeger").get("image")).startswith("jaegertracing/")
    assert "mailpit" in str(service("smtp").get("image"))


# ---------------------------------------------------------------------------- Dockerfile


def test_dockerfile_is_parameterised_by_service() -> None:
    arguments = [args for keyword, args in dockerfile_instructions() if keyword == "ARG"]
    assert any(re.fullmatch(r"SERVICE(=.*)?", args) for args in arguments)
    froms = [args for keyword, args in dockerfile_instructions() if keyword == "FROM"]
    assert len(froms) >= 2, "the Dockerfile must be multi-stage"
    assert "python:3.11-slim" in DOCKERFILE.read_text(encoding="utf-8")
    copies = [args for keyword, args in dockerfile_instructions() if keyword == "COPY"]
    assert any(args.startswith("--from=ghcr.io/astral-sh/uv:") for args in copies)


def test_every_stage_using_service_declares_the_arg() -> None:
    # A build ARG is scoped to the stage that declares it: elsewhere ${SERVICE} is empty.
    declared = False
    for keyword, args in dockerfile_instructions():
        if keyword == "FROM":
            declared = False
        elif keyword == "ARG" and re.fullmatch(r"SERVICE(=.*)?", args):
            declared = True
        elif re.search(r"\$\{?SERVICE\b", args):
            assert declared, f"{keyword} {args} uses SERVICE before its stage declares ARG SERVICE"


def test_dockerfile_installs_the_locked_service_closure_dependencies_first() -> None:
    instructions = dockerfile_instructions()
    syncs = [
        (index, args)
        for index, (keyword, args) in enumerate(instructions)
        if keyword == "RUN" and "uv sync" in args
    ]
    assert syncs, "the Dockerfile must install with uv sync"
    for _, args in syncs:
        assert "--frozen" in args
        assert "--no-dev" in args
        assert '--package "crm-${SERVICE}"' in args or "--package crm-${SERVICE}" in args
    dependencies_only = [index for index, args in syncs if "--no-install-workspace" in args]
    assert dependencies_only, "dependencies must be installed before the sources are copied"
    first_source_copy = min(
        index
        for index, (keyword, args) in enumerate(instructions)
        if keyword == "COPY" and "/src" in args
    )
    assert dependencies_only[0] < first_source_copy
    assert any(index > first_source_copy for index, _ in syncs)


def test_dockerfile_copies_every_workspace_member_manifest() -> None:
    copies = [args for keyword, args in dockerfile_instructions() if keyword == "COPY"]
    for member in workspace_members():
        assert any(args.startswith(f"{member}/pyproject.toml ") for args in copies), (
            f"uv cannot load the workspace in the image without {member}/pyproject.toml"
        )


@pytest.mark.parametrize("name", SERVICES)
def test_dockerfile_copy_sources_exist_and_are_in_the_build_context(name: str) -> None:
    for keyword, args in dockerfile_instructions():
        if keyword != "COPY" or args.startswith("--from="):
            continue
        words = [word for word in args.split() if not word.startswith("--")]
        for source in words[:-1]:
            relative = source.replace("${SERVICE}", name).replace("$SERVICE", name).rstrip("/")
            assert (REPO_ROOT / relative).exists(), f"COPY {relative}: no such path"
            assert not excluded_from_build_context(relative), f".dockerignore drops {relative}"


def test_dockerfile_runtime_stage_is_non_root_healthchecked_and_runs_uvicorn() -> None:
    runtime = final_stage()
    users = [args for keyword, args in runtime if keyword == "USER"]
    assert users, "the runtime stage must switch to a non-root USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    healthchecks = [args for keyword, args in runtime if keyword == "HEALTHCHECK"]
    assert len(healthchecks) == 1
    assert "urllib" in healthchecks[0]
    assert "/healthz" in healthchecks[0]
    assert ("EXPOSE", "8000") in runtime
    commands = [args for keyword, args in runtime if keyword == "CMD"]
    assert len(commands) == 1
    assert "uvicorn" in commands[0]
    assert "--factory" in commands[0]
    assert "main:create_app" in commands[0]
    assert "--port 8000" in commands[0]
    assert f"--timeout-keep-alive {SERVER_KEEP_ALIVE_SECONDS}" in commands[0]
    # uvicorn would otherwise believe X-Forwarded-For from loopback (docs/security.md).
    assert "--no-proxy-headers" in commands[0]


def test_dockerignore_keeps_local_state_and_tests_out() -> None:
    for path in (
        ".venv/bin/python",
        ".git/HEAD",
        ".run/stack/pid",
        "tests/unit/__init__.py",
        "bench/results/latest.json",
        "shared/src/crm_shared/__pycache__/settings.cpython-311.pyc",
        ".mypy_cache/3.11/cache.db",
        ".env",
    ):
        assert excluded_from_build_context(path), path
    for path in ("pyproject.toml", "uv.lock", "shared/src/crm_shared/__init__.py"):
        assert not excluded_from_build_context(path), path


def test_the_gateway_publishes_no_metrics_port_and_trusts_no_proxy_by_default() -> None:
    gateway = compose()["services"]["gateway"]
    assert gateway["ports"] == ["8000:8000"]
    assert gateway["environment"]["METRICS_PORT"] == "9100"
    assert gateway["environment"]["TRUSTED_PROXIES"] == "${TRUSTED_PROXIES:-}"
