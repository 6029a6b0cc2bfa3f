"""The chart's policy, checked on its rendered manifests (`helm template ... | policy.py`).

kubeconform checks that each object is valid Kubernetes; this checks what the project requires
of them: pinned images (no `latest`, no missing tag), requests and limits on every container,
non-root containers with a read-only root filesystem, no privilege escalation and an emptyDir
at /tmp, both probes on every Deployment (`/readyz` readiness, `/healthz` liveness), a
NetworkPolicy that denies by default and lets only the gateway be reached from outside the
release, and KEDA replicas never above the partitions of the consumed topics.

Usage: policy.py MANIFESTS.yaml (or - for standard input); exits 1 listing every violation.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

CONSUMERS = Path(__file__).resolve().parent / "recruitcrm" / "files" / "consumers.yaml"
WORKLOADS = ("Deployment", "Job")


def _containers(pod: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from pod.get("initContainers") or []
    yield from pod.get("containers") or []


def _container_violations(where: str, pod: dict[str, Any], container: dict[str, Any]) -> list[str]:
    found = []
    name = f"{where} container {container.get('name')}"
    image = str(container.get("image", ""))
    tag = image.rsplit("/", 1)[-1].partition(":")[2]
    if not tag or tag == "latest":
        found.append(f"{name}: image {image!r} is not pinned to a version")
    resources = container.get("resources") or {}
    for kind in ("requests", "limits"):
        for resource in ("cpu", "memory"):
            if not (resources.get(kind) or {}).get(resource):
                found.append(f"{name}: no {resource} {kind}")
    security = container.get("securityContext") or {}
    pod_security = pod.get("securityContext") or {}
    if not security.get("runAsNonRoot", pod_security.get("runAsNonRoot")):
        found.append(f"{name}: not runAsNonRoot")
    if security.get("readOnlyRootFilesystem") is not True:
        found.append(f"{name}: root filesystem not read-only")
    if security.get("allowPrivilegeEscalation") is not False:
        found.append(f"{name}: privilege escalation not refused")
    if "ALL" not in ((security.get("capabilities") or {}).get("drop") or []):
        found.append(f"{name}: capabilities not dropped")
    volumes = {volume["name"]: volume for volume in pod.get("volumes") or []}
    mounts = container.get("volumeMounts") or []
    tmp = [m for m in mounts if m.get("mountPath") == "/tmp"]  # noqa: S108 (a manifest path)
    if not tmp or "emptyDir" not in volumes.get(tmp[0]["name"], {}):
        found.append(f"{name}: no emptyDir at /tmp")
    return found


def _probe_path(container: dict[str, Any], probe: str) -> str | None:
    return ((container.get(probe) or {}).get("httpGet") or {}).get("path")


def violations(objects: list[dict[str, Any]]) -> list[str]:
    """Every way the manifests break the policy."""
    found: list[str] = []
    partitions = {
        (service, group["group"]): group["partitions"]
        for service, groups in yaml.safe_load(CONSUMERS.read_text(encoding="utf-8")).items()
        for group in groups
    }
    deployments = [o for o in objects if o["kind"] == "Deployment"]
    if not deployments:
        found.append("no Deployment rendered")
    for obj in objects:
        kind, name = obj["kind"], obj["metadata"]["name"]
        where = f"{kind} {name}"
        if kind in WORKLOADS:
            pod = obj["spec"]["template"]["spec"]
            if pod.get("automountServiceAccountToken") is not False:
                found.append(f"{where}: mounts a service account token")
            for container in _containers(pod):
                found += _container_violations(where, pod, container)
        if kind == "Deployment":
            for container in obj["spec"]["template"]["spec"]["containers"]:
                if _probe_path(container, "readinessProbe") != "/readyz":
                    found.append(f"{where}: no /readyz readiness probe")
                if _probe_path(container, "livenessProbe") != "/healthz":
                    found.append(f"{where}: no /healthz liveness probe")
        if kind == "ScaledObject":
            component = obj["metadata"]["labels"]["app.kubernetes.io/component"]
            counts = [
                partitions.get((component, trigger["metadata"]["consumerGroup"].rsplit(".", 1)[1]))
                for trigger in obj["spec"]["triggers"]
            ]
            known = [count for count in counts if count is not None]
            if len(known) != len(counts):
                found.append(f"{where}: a trigger names a consumer group the service lacks")
            elif obj["spec"]["maxReplicaCount"] > max(known):
                found.append(f"{where}: maxReplicaCount above its topics' partitions")
    found += _network_violations(objects)
    return found


def _network_violations(objects: list[dict[str, Any]]) -> list[str]:
    policies = [o for o in objects if o["kind"] == "NetworkPolicy"]
    if not policies:
        return []  # networkPolicy.enabled=false renders none; nothing to hold to account
    found = []
    if not any(
        set(p["spec"].get("policyTypes", [])) == {"Ingress", "Egress"}
        and not p["spec"].get("ingress")
        and not p["spec"].get("egress")
        for p in policies
    ):
        found.append("no default-deny NetworkPolicy")
    for policy in policies:
        selector = policy["spec"]["podSelector"].get("matchLabels", {})
        component = selector.get("app.kubernetes.io/component")
        for rule in policy["spec"].get("ingress") or []:
            if component != "gateway" and not rule.get("from"):
                found.append(
                    f"NetworkPolicy {policy['metadata']['name']}: lets anyone reach "
                    f"{component or 'every pod'} (only the gateway may be reached from outside)"
                )
    return found


def main(argv: list[str]) -> int:
    """The command line (the module docstring)."""
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    text = sys.stdin.read() if argv[0] == "-" else Path(argv[0]).read_text(encoding="utf-8")
    objects = [obj for obj in yaml.safe_load_all(text) if obj]
    found = violations(objects)
    for violation in found:
        print(f"policy: {violation}", file=sys.stderr)
    print(f"policy: {len(objects)} objects, {len(found)} violations")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
