"""Builds the JSON schemas kubeconform validates the chart against, from registry packages only.

kubeconform downloads its schemas from GitHub by default, which CI cannot reach. Instead:

- Kubernetes: the PyPI wheel `kubernetes-validate` ships the OpenAPI-derived JSON schemas of
  each Kubernetes release (`kubernetes_validate/kubernetes-json-schema/v<version>-local-strict/`,
  additionalProperties false), each kind a file that refers to a shared `_definitions.json`
  by an absolute URL (`/api/_definitions.json#/$defs/...`). kubeconform would try to fetch that
  URL, so each kind is written standalone: the definitions it reaches are copied into its own
  `$defs` and the references made local. Output: `<out>/v<version>-standalone-strict/<kind>.json`,
  named as kubeconform's default template names them (`deployment-apps-v1.json`).
- CRDs (KEDA's ScaledObject): the CustomResourceDefinition YAML of the Go module
  `github.com/kedacore/keda/v2` (`config/crd/bases/`), each served version's
  `openAPIV3Schema` converted as kubeconform's own `openapi2jsonschema.py` does (strict:
  additionalProperties false wherever properties are listed and nothing else says otherwise).
  Output: `<out>/crds/<group>/<kind>_<version>.json`.

Usage: python schemas.py kubernetes WHEEL_OR_DIR VERSION OUT
       python schemas.py crd CRD_YAML OUT
"""

from __future__ import annotations

import json
import re
import sys
import zipfile
from pathlib import Path
from typing import Any

import yaml

# A kind's references to the shared definitions, and the definitions' references to each other.
DEFINITIONS_REF = re.compile(
    r"^(?:(?:https://kubernetes\.io)?/api/_definitions\.json)?#/\$defs/(.+)$"
)


def _references(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                match = DEFINITIONS_REF.match(value)
                if not match:
                    raise ValueError(f"unexpected $ref {value!r}")
                found.add(match.group(1))
            else:
                found |= _references(value)
    elif isinstance(node, list):
        for item in node:
            found |= _references(item)
    return found


def _localised(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            key: (
                DEFINITIONS_REF.sub(r"#/$defs/\1", value)
                if key == "$ref" and isinstance(value, str)
                else _localised(value)
            )
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_localised(item) for item in node]
    return node


def _read_kubernetes(source: Path, version: str) -> dict[str, Any]:
    """File name -> schema of the release's strict directory, from the wheel or an unpacked dir."""
    prefix = f"kubernetes_validate/kubernetes-json-schema/v{version}-local-strict/"
    files: dict[str, Any] = {}
    if source.is_dir():
        for path in (source / prefix).glob("*.json"):
            files[path.name] = json.loads(path.read_text(encoding="utf-8"))
    else:
        with zipfile.ZipFile(source) as wheel:
            for name in wheel.namelist():
                if name.startswith(prefix) and name.endswith(".json"):
                    files[name.removeprefix(prefix)] = json.loads(wheel.read(name))
    if "_definitions.json" not in files:
        raise SystemExit(f"{source} has no schemas for Kubernetes {version} ({prefix})")
    return files


def kubernetes(source: Path, version: str, out: Path) -> int:
    """Writes every kind of the release standalone; returns how many."""
    files = _read_kubernetes(source, version)
    definitions: dict[str, Any] = files.pop("_definitions.json")["$defs"]
    target = out / f"v{version}-standalone-strict"
    target.mkdir(parents=True, exist_ok=True)
    written = 0
    for name, schema in files.items():
        if "kind" not in schema.get("properties", {}):
            continue  # a fragment (a spec or status), not a kind anyone validates
        needed: set[str] = set()
        pending = _references(schema)
        while pending:
            name_ = pending.pop()
            if name_ in needed:
                continue
            needed.add(name_)
            pending |= _references(definitions[name_]) - needed
        standalone = _localised(schema)
        standalone.pop("$id", None)
        standalone["$defs"] = {key: _localised(definitions[key]) for key in sorted(needed)}
        (target / name).write_text(json.dumps(standalone), encoding="utf-8")
        written += 1
    return written


def _strict(node: Any) -> Any:
    """kubeconform's openapi2jsonschema: additionalProperties false beside every `properties`
    (unless the schema says otherwise or preserves unknown fields)."""
    if isinstance(node, dict):
        node = {key: _strict(value) for key, value in node.items()}
        if (
            "properties" in node
            and "additionalProperties" not in node
            and not node.get("x-kubernetes-preserve-unknown-fields")
        ):
            node["additionalProperties"] = False
        return node
    if isinstance(node, list):
        return [_strict(item) for item in node]
    return node


def crd(source: Path, out: Path) -> list[Path]:
    """Writes the JSON schema of each version of the CRD(s) in `source`."""
    written = []
    for document in yaml.safe_load_all(source.read_text(encoding="utf-8")):
        if not document or document.get("kind") != "CustomResourceDefinition":
            continue
        spec = document["spec"]
        group, kind = spec["group"], spec["names"]["kind"].lower()
        for version in spec["versions"]:
            schema = _strict(version["schema"]["openAPIV3Schema"])
            schema["$schema"] = "http://json-schema.org/draft-07/schema#"
            path = out / "crds" / group / f"{kind}_{version['name']}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(schema, indent=1), encoding="utf-8")
            written.append(path)
    if not written:
        raise SystemExit(f"{source} holds no CustomResourceDefinition")
    return written


def main(argv: list[str]) -> int:
    """The command line (the module docstring)."""
    if len(argv) == 4 and argv[0] == "kubernetes":
        count = kubernetes(Path(argv[1]), argv[2], Path(argv[3]))
        print(f"Kubernetes {argv[2]}: {count} standalone schemas")
        return 0
    if len(argv) == 3 and argv[0] == "crd":
        for path in crd(Path(argv[1]), Path(argv[2])):
            print(f"CRD schema {path}")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
