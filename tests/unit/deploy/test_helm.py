"""The Helm chart's values and policy, without helm (`make helm-check` renders and validates it).

Every setting the values pass is one its service's config.py reads, and a setting that holds a
secret never lands in a ConfigMap; the consumer-group inventory the KEDA triggers come from
matches what the services subscribe; the defaults respect the partitions; the policy check
catches what it exists to catch."""

from __future__ import annotations

import importlib.util
import types
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, SecretStr
from pydantic_settings import BaseSettings

from crm_analytics.config import AnalyticsSettings
from crm_ats_sync.config import AtsSyncSettings
from crm_campaigns.config import CampaignsSettings
from crm_candidates.config import CandidatesSettings
from crm_console.config import ConsoleSettings
from crm_devstack import helm_consumers
from crm_events.config import EventsSettings
from crm_gateway.config import GatewaySettings
from crm_shared.contracts.catalog import TOPICS

pytestmark = pytest.mark.unit

REPO_ROOT = Path(__file__).resolve().parents[3]
HELM = REPO_ROOT / "deploy" / "helm"
CHART = HELM / "recruitcrm"
VALUES_FILES = [
    CHART / "values.yaml",
    CHART / "values-small.yaml",
    CHART / "examples" / "strimzi-mongodb.yaml",
    CHART / "ci" / "required.yaml",
]
SETTINGS: dict[str, type[BaseSettings]] = {
    "gateway": GatewaySettings,
    "candidates": CandidatesSettings,
    "campaigns": CampaignsSettings,
    "events": EventsSettings,
    "ats-sync": AtsSyncSettings,
    "analytics": AnalyticsSettings,
    "console": ConsoleSettings,
}
# Settings that carry credentials although typed as plain strings.
CREDENTIALS = {"MONGODB_URI"}


def _load_policy() -> types.ModuleType:
    """deploy/helm/policy.py, a script beside the chart rather than a package module."""
    spec = importlib.util.spec_from_file_location("helm_policy", HELM / "policy.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


policy = _load_policy()


def _values(path: Path) -> dict[str, Any]:
    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def _env_names(settings: type[BaseSettings]) -> dict[str, Any]:
    """Environment variable name -> the field's annotation."""
    return {
        (field.alias or name).upper(): field.annotation
        for name, field in settings.model_fields.items()
    }


def _holds_secret(annotation: Any) -> bool:
    if annotation is SecretStr:
        return True
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return any(_holds_secret(field.annotation) for field in annotation.model_fields.values())
    origin = typing.get_origin(annotation)
    if origin is not None or isinstance(annotation, types.UnionType):
        return any(_holds_secret(argument) for argument in typing.get_args(annotation))
    return False


def test_the_chart_deploys_every_service_of_the_repository() -> None:
    services = {
        p.name for p in (REPO_ROOT / "services").iterdir() if (p / "pyproject.toml").exists()
    }
    assert set(_values(CHART / "values.yaml")["services"]) == services == set(SETTINGS)


@pytest.mark.parametrize("path", VALUES_FILES, ids=lambda path: path.name)
def test_every_setting_in_the_values_is_read_by_its_service_and_secrets_stay_secret(
    path: Path,
) -> None:
    values = _values(path)
    common = values.get("common") or {}
    for service, settings in SETTINGS.items():
        known = _env_names(settings)
        entry = (values.get("services") or {}).get(service) or {}
        configured = {**(common.get("config") or {}), **(entry.get("config") or {})}
        secret = {**(common.get("secrets") or {}), **(entry.get("secrets") or {})}
        if service == "console":  # the console's Secret holds the public key only
            secret = {k: v for k, v in secret.items() if k == "INTERNAL_TOKEN_PUBLIC_KEY"}
        for name in {**configured, **secret}:
            assert name in known, f"{path.name}: {service} reads no setting {name}"
        for name in configured:
            where = f"{path.name}: {service}'s {name} holds a secret: put it under `secrets`"
            assert not _holds_secret(known[name]), where
            assert name not in CREDENTIALS, where


def test_the_settings_the_chart_derives_are_read_by_the_services() -> None:
    derived = {
        "SERVICE_NAME",
        "OTEL_SERVICE_NAME",
        "MONGODB_DATABASE",
        "MONGODB_URI",
        "KAFKA_BOOTSTRAP_SERVERS",
        "KAFKA_GROUP_PREFIX",
        "INTERNAL_TOKEN_PUBLIC_KEY",
        "LINK_SIGNING_SECRET",
    }
    gateway = {
        "CANDIDATES_URL",
        "CAMPAIGNS_URL",
        "EVENTS_URL",
        "ATS_SYNC_URL",
        "ANALYTICS_URL",
        "CONSOLE_URL",
        "METRICS_PORT",
        "METRICS_HOST",
        "INTERNAL_TOKEN_PRIVATE_KEY",
    }
    for service in ("candidates", "campaigns", "events", "ats-sync", "analytics"):
        assert derived <= set(_env_names(SETTINGS[service]))
    assert derived | gateway <= set(_env_names(GatewaySettings))
    assert {"GATEWAY_URL", "SERVICE_NAME", "INTERNAL_TOKEN_PUBLIC_KEY"} <= set(
        _env_names(ConsoleSettings)
    )


def test_the_consumer_inventory_matches_the_services_subscriptions() -> None:
    assert helm_consumers.main(["check"]) == 0, "run `make contracts`"


def test_keda_defaults_leave_no_group_with_idle_members_and_never_pass_the_partitions() -> None:
    inventory = yaml.safe_load((CHART / "files" / "consumers.yaml").read_text(encoding="utf-8"))
    catalog = {spec.name: spec.partitions for spec in TOPICS}
    for service, entry in _values(CHART / "values.yaml")["services"].items():
        keda = entry.get("keda")
        if not keda:
            assert service not in inventory or service == "gateway"
            continue
        partitions = [catalog[group["topic"]] for group in inventory[service]]
        assert keda["minReplicaCount"] <= keda["maxReplicaCount"] == min(partitions), service


@pytest.mark.parametrize("path", VALUES_FILES[:3], ids=lambda path: path.name)
def test_images_are_pinned(path: Path) -> None:
    for service, entry in (_values(path).get("services") or {}).items():
        image = entry.get("image")
        if image is not None:
            assert str(image["tag"]) not in ("", "latest"), f"{path.name}: {service}"


def _deployment(**changes: Any) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": "gateway",
        "image": "recruitcrm/gateway:0.1.0",
        "resources": {
            "requests": {"cpu": "100m", "memory": "128Mi"},
            "limits": {"cpu": "1", "memory": "256Mi"},
        },
        "securityContext": {
            "runAsNonRoot": True,
            "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
        },
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": "http"}},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}},
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],  # noqa: S108 (a manifest)
    }
    container.update(changes)
    return {
        "kind": "Deployment",
        "metadata": {"name": "crm-gateway"},
        "spec": {
            "template": {
                "spec": {
                    "automountServiceAccountToken": False,
                    "volumes": [{"name": "tmp", "emptyDir": {}}],
                    "containers": [container],
                }
            }
        },
    }


def test_the_policy_passes_a_conforming_deployment() -> None:
    assert policy.violations([_deployment()]) == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"image": "recruitcrm/gateway:latest"}, "not pinned"),
        ({"image": "recruitcrm/gateway"}, "not pinned"),
        ({"resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}, "no cpu limits"),
        ({"readinessProbe": None}, "no /readyz readiness probe"),
        ({"livenessProbe": {"httpGet": {"path": "/readyz"}}}, "no /healthz liveness probe"),
        ({"securityContext": {"readOnlyRootFilesystem": True}}, "not runAsNonRoot"),
        ({"securityContext": {"runAsNonRoot": True}}, "root filesystem not read-only"),
        ({"volumeMounts": []}, "no emptyDir at /tmp"),
    ],
    ids=[
        "latest",
        "untagged",
        "no-limits",
        "no-readiness",
        "liveness-on-readyz",
        "root",
        "writable-root",
        "no-tmp",
    ],
)
def test_the_policy_catches(changes: dict[str, Any], expected: str) -> None:
    found = policy.violations([_deployment(**changes)])
    assert any(expected in violation for violation in found), found


def test_the_policy_lets_only_the_gateway_be_reached_from_anywhere() -> None:
    def allow_all(component: str) -> dict[str, Any]:
        return {
            "kind": "NetworkPolicy",
            "metadata": {"name": f"open-{component}"},
            "spec": {
                "podSelector": {"matchLabels": {"app.kubernetes.io/component": component}},
                "policyTypes": ["Ingress"],
                "ingress": [{"ports": [{"port": 8000}]}],
            },
        }

    deny = {
        "kind": "NetworkPolicy",
        "metadata": {"name": "deny"},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
    }
    assert policy.violations([_deployment(), deny, allow_all("gateway")]) == []
    found = policy.violations([_deployment(), deny, allow_all("candidates")])
    assert any("lets anyone reach candidates" in violation for violation in found), found
    found = policy.violations([_deployment(), allow_all("gateway")])
    assert "no default-deny NetworkPolicy" in found
