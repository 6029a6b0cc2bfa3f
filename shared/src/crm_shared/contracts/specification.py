"""Generates the published contract documents (JSON Schema per topic, one AsyncAPI 3.0 document).

Run `python -m crm_shared.contracts.specification write` after a deliberate contract change;
a test compares the checked-in documents with what the models generate.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from crm_shared.contracts.catalog import TOPICS, TopicSpec
from crm_shared.contracts.envelope import EventEnvelope

CONTRACTS_DIR = Path(__file__).resolve().parents[4] / "docs" / "contracts"


# Every field of the envelope is in every message: producers always write them (`id` and `time`
# have defaults in the model, which JSON Schema would otherwise call optional).
ENVELOPE_FIELDS = tuple(EventEnvelope.model_fields)


def envelope_schema(spec: TopicSpec) -> dict[str, Any]:
    """JSON Schema of the full message (envelope with this topic's payload).

    The envelope's fields are all required, and `type` and `schema_version` are constants of
    the topic, so a consumer validating against it refuses a message that lacks them or
    belongs to another topic or version.
    """
    model = EventEnvelope[spec.payload]  # type: ignore[name-defined]
    schema: dict[str, Any] = model.model_json_schema(mode="serialization")
    schema["title"] = f"{spec.name} v{spec.schema_version}"
    schema["$id"] = f"urn:recruitcrm:event:{spec.name}:v{spec.schema_version}"
    schema["required"] = list(ENVELOPE_FIELDS)
    properties = schema["properties"]
    properties["type"]["const"] = spec.name
    properties["schema_version"]["const"] = spec.schema_version
    return schema


def asyncapi_document() -> dict[str, Any]:
    """An AsyncAPI 3.0 document with one channel and message per catalog topic."""
    channels: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for spec in TOPICS:
        message_id = spec.name.replace(".", "_")
        messages[message_id] = {
            "name": spec.name,
            "title": spec.payload.__name__,
            "summary": spec.description,
            "contentType": "application/json",
            "headers": {
                "type": "object",
                "properties": {"traceparent": {"type": "string"}},
            },
            "payload": envelope_schema(spec),
            "bindings": {"kafka": {"key": {"type": "string", "description": spec.key}}},
        }
        channels[message_id] = {
            "address": spec.name,
            "description": spec.description,
            "messages": {message_id: {"$ref": f"#/components/messages/{message_id}"}},
            "bindings": {"kafka": {"topic": spec.name, "partitions": spec.partitions}},
        }
        operations[f"publish_{message_id}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{message_id}"},
            "messages": [{"$ref": f"#/channels/{message_id}/messages/{message_id}"}],
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Recruitment CRM events",
            "version": "1.0.0",
            "description": (
                "Every topic on the recruitment CRM bus. Topics are `<entity>.<past-tense verb>`; "
                "every message is an envelope keyed by its subject."
            ),
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


def rendered_documents() -> dict[str, str]:
    """Every contract document as the text it is checked in as, keyed by relative path."""
    documents = {"asyncapi.json": _dump(asyncapi_document())}
    for spec in TOPICS:
        documents[f"schemas/{spec.name}.v{spec.schema_version}.json"] = _dump(envelope_schema(spec))
    return documents


def _dump(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def write_documents(target: Path = CONTRACTS_DIR) -> list[Path]:
    """Writes the contract documents under `target`."""
    written = []
    for relative, text in rendered_documents().items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    if sys.argv[1:] != ["write"]:
        sys.exit("usage: python -m crm_shared.contracts.specification write")
    for path in write_documents():
        print(path)
