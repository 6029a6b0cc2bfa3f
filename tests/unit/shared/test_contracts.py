"""The published contract documents match the models, and envelopes round-trip."""

from __future__ import annotations

import json
import re
from uuid import uuid4

import pytest

from crm_shared import (
    CANDIDATE_CREATED,
    TOPICS,
    CandidateCreated,
    EventEnvelope,
    TopicSpec,
    UndecodableEventError,
    all_topic_names,
    decode_event,
    topic_spec,
)
from crm_shared.contracts.specification import CONTRACTS_DIR, rendered_documents

pytestmark = pytest.mark.unit


def test_checked_in_contract_documents_match_the_models() -> None:
    for relative, expected in rendered_documents().items():
        path = CONTRACTS_DIR / relative
        assert path.exists(), f"{relative} is missing: run `make contracts`"
        assert path.read_text(encoding="utf-8") == expected, (
            f"{relative} differs from the models: a contract changed. If that was deliberate "
            "(and backward compatible, or a new schema version), run `make contracts`."
        )


@pytest.mark.parametrize("spec", TOPICS, ids=lambda spec: spec.name)
def test_every_topic_schema_requires_the_whole_envelope_of_its_own_type(spec: TopicSpec) -> None:
    document = json.loads(
        (CONTRACTS_DIR / f"schemas/{spec.name}.v{spec.schema_version}.json").read_text("utf-8")
    )
    required = {"id", "type", "source", "time", "tenant_id", "subject", "schema_version", "data"}
    assert set(document["required"]) == required
    assert document["properties"]["type"]["const"] == spec.name
    assert document["properties"]["schema_version"]["const"] == spec.schema_version


def test_a_producer_writes_every_required_envelope_field() -> None:
    envelope = EventEnvelope[CandidateCreated](
        type=CANDIDATE_CREATED.name,
        source="candidates",
        tenant_id="acme",
        subject="c1",
        schema_version=CANDIDATE_CREATED.schema_version,
        data=CandidateCreated(
            candidate_id="c1", first_name="Zoë", last_name="", emails=[], source="sourced"
        ),
    )
    written = json.loads(envelope.model_dump_json())
    schema = json.loads(rendered_documents()[f"schemas/{CANDIDATE_CREATED.name}.v1.json"])
    assert set(schema["required"]) <= written.keys()
    assert written["type"] == schema["properties"]["type"]["const"]


def test_every_catalog_topic_is_published_in_asyncapi() -> None:
    document = json.loads((CONTRACTS_DIR / "asyncapi.json").read_text(encoding="utf-8"))
    addresses = {channel["address"] for channel in document["channels"].values()}
    assert addresses == {spec.name for spec in TOPICS}


IRREGULAR_PAST_TENSES = {"sent"}
# A fact named by its noun where no verb says it: issue 20 named `event.no_show` so (a
# registrant "did not show"); it is still a past fact, settled when the event is completed.
FACT_NOUNS = {"event.no_show"}


def test_topic_names_are_entity_dot_past_tense_and_each_has_a_dead_letter_topic() -> None:
    for spec in TOPICS:
        assert re.fullmatch(r"[a-z]+\.[a-z_]+", spec.name), spec.name
        # The last word is the verb, or the word before a particle (`event.checked_in`).
        words = spec.name.split(".")[-1].split("_")
        verb = words[-2] if words[-1] in {"in", "out"} and len(words) > 1 else words[-1]
        assert verb.endswith("ed") or verb in IRREGULAR_PAST_TENSES or spec.name in FACT_NOUNS, (
            spec.name
        )
    assert set(all_topic_names()) == {n for s in TOPICS for n in (s.name, s.name + ".dlq")}


def _created(**overrides: object) -> EventEnvelope[CandidateCreated]:
    payload = CandidateCreated(
        candidate_id="c1",
        first_name="Ada",
        last_name="Lovelace",
        emails=["ada@example.org"],
        source="sourced",
    )
    fields: dict[str, object] = {
        "type": "candidate.created",
        "source": "candidates",
        "tenant_id": "acme",
        "subject": "c1",
        "schema_version": 1,
        "data": payload,
    }
    fields.update(overrides)
    return EventEnvelope[CandidateCreated].model_validate(fields)


def test_an_envelope_round_trips_through_its_wire_form() -> None:
    envelope = _created()
    decoded = decode_event(CANDIDATE_CREATED, envelope.model_dump_json().encode())
    assert decoded.id == envelope.id
    assert decoded.data == envelope.data
    assert decoded.tenant_id == "acme"


def test_unknown_payload_fields_are_tolerated_for_forward_compatibility() -> None:
    wire = json.loads(_created().model_dump_json())
    wire["data"]["added_later"] = "value"
    decoded = decode_event(CANDIDATE_CREATED, json.dumps(wire).encode())
    assert decoded.data.candidate_id == "c1"


@pytest.mark.parametrize(
    "wire",
    [
        b"not json",
        b"{}",
        json.dumps({"id": str(uuid4()), "type": "candidate.created"}).encode(),
    ],
    # Named, not shown: the parallel run's workers must collect the same test ids.
    ids=["not json", "empty object", "no data"],
)
def test_malformed_messages_are_undecodable(wire: bytes) -> None:
    with pytest.raises(UndecodableEventError):
        decode_event(CANDIDATE_CREATED, wire)


def test_an_event_of_another_type_or_a_newer_version_is_undecodable() -> None:
    with pytest.raises(UndecodableEventError, match="event type"):
        decode_event(
            CANDIDATE_CREATED, _created(type="candidate.erased").model_dump_json().encode()
        )
    with pytest.raises(UndecodableEventError, match="newer"):
        decode_event(CANDIDATE_CREATED, _created(schema_version=2).model_dump_json().encode())


def test_an_unknown_topic_is_a_programming_error() -> None:
    with pytest.raises(KeyError):
        topic_spec("candidate.teleported")
