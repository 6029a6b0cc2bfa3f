"""The batched consumer's per-batch work: a batch span's links to its events' traces, and the
records' headers as FastStream's batch parser decoded them."""

from __future__ import annotations

from typing import Any

import pytest
from faststream.kafka.annotations import KafkaMessage

from crm_shared import CANDIDATE_CREATED, CandidateCreated, EventEnvelope
from crm_shared.consumer import (
    DeliveredRecord,
    _deliveries,
    _Delivery,
    _trace_links,
    decode_event,
)

pytestmark = pytest.mark.unit


def _delivery(offset: int, headers: dict[str, str]) -> _Delivery:
    value = (
        EventEnvelope[Any](
            type=CANDIDATE_CREATED.name,
            source="test",
            tenant_id="acme",
            subject=f"c{offset}",
            schema_version=1,
            data=CandidateCreated(
                candidate_id=f"c{offset}", first_name="A", last_name="B", emails=[], source="x"
            ),
        )
        .model_dump_json()
        .encode()
    )
    record = DeliveredRecord(CANDIDATE_CREATED.name, 0, offset, None, value, headers)
    return _Delivery(record, decode_event(CANDIDATE_CREATED, value))


def _traceparent(trace: int, span: int) -> str:
    return f"00-{trace:032x}-{span:016x}-01"


def test_a_batch_links_each_distinct_trace_once_in_the_order_first_seen() -> None:
    # Records written together share their trace headers, each has its own event id; one
    # carries no trace at all.
    headers = [
        {"traceparent": _traceparent(2, 7), "event-id": "e0"},
        {"traceparent": _traceparent(2, 7), "event-id": "e1"},
        {"event-id": "e2"},
        {"traceparent": _traceparent(1, 9), "event-id": "e3"},
        {"traceparent": _traceparent(2, 7), "event-id": "e4"},
        {"traceparent": _traceparent(2, 8), "event-id": "e5"},
    ]
    links = _trace_links([_delivery(n, h) for n, h in enumerate(headers)])
    assert [(link.context.trace_id, link.context.span_id) for link in links] == [
        (2, 7),
        (1, 9),
        (2, 8),
    ]


def test_more_events_of_one_trace_than_the_link_limit_leave_room_for_the_others() -> None:
    # The SDK keeps 128 links a span: copies of the first trace must not crowd out the last.
    headers = [{"traceparent": _traceparent(3, 1), "event-id": f"e{n}"} for n in range(200)]
    headers.append({"traceparent": _traceparent(4, 1), "event-id": "last"})
    links = _trace_links([_delivery(n, h) for n, h in enumerate(headers)])
    assert [link.context.trace_id for link in links] == [3, 4]


class _Record:
    def __init__(self, offset: int, headers: list[tuple[str, bytes]]) -> None:
        self.topic, self.partition, self.offset, self.key = "t", 0, offset, b"k"
        self.value, self.headers = b"{}", headers


class _Message:
    def __init__(self, raw: Any, batch_headers: list[dict[str, str]]) -> None:
        self.raw_message, self.batch_headers = raw, batch_headers


def test_a_batch_s_records_keep_the_headers_faststream_decoded_in_their_order() -> None:
    raw = (_Record(5, [("a", b"1")]), _Record(6, [("b", b"2")]))
    decoded = [{"a": "1"}, {"b": "2"}]
    records = _deliveries(_message(raw, decoded))
    assert [(r.offset, r.headers) for r in records] == [(5, {"a": "1"}), (6, {"b": "2"})]
    assert records[0].headers is decoded[0]
    # Without FastStream's decoded headers (a single record), they are decoded here.
    [single] = _deliveries(_message(_Record(7, [("c", b"3")]), []))
    assert (single.offset, single.headers) == (7, {"c": "3"})


def _message(raw: Any, batch_headers: list[dict[str, str]]) -> KafkaMessage:
    message: Any = _Message(raw, batch_headers)
    return message  # type: ignore[no-any-return]
