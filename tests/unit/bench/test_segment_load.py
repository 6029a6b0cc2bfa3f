"""The segment-latency-under-load benchmark's pure parts (bench/segment_load.py): the broadcast
burst it publishes is made of valid events of the contracts, and the overlap note says how much
of the load fell inside the latency window."""

from __future__ import annotations

import pytest

from bench.segment_load import Overlap, Stream, broadcast_events
from crm_shared import MESSAGE_OPENED, MESSAGE_SENT, decode_event

pytestmark = pytest.mark.unit


def test_the_broadcast_burst_is_valid_events_of_the_contracts() -> None:
    candidates = [f"c{n}" for n in range(5)]

    sent, opened = broadcast_events("acme", candidates, 2, "b1")

    sent_events = [decode_event(MESSAGE_SENT, value) for _, value in sent]
    opened_events = [decode_event(MESSAGE_OPENED, value) for _, value in opened]
    assert [key.decode() for key, _ in sent] == candidates
    assert [e.data.candidate_id for e in sent_events] == candidates
    assert {e.tenant_id for e in sent_events + opened_events} == {"acme"}
    assert {e.data.broadcast_id for e in sent_events} == {"b1"}
    # The opens are of the first messages sent, to the same people, each a human open.
    assert [key.decode() for key, _ in opened] == candidates[:2]
    assert [e.data.message_id for e in opened_events] == [
        e.data.message_id for e in sent_events[:2]
    ]
    assert not any(e.data.automated for e in opened_events)
    assert len({e.id for e in sent_events + opened_events}) == 7


def test_the_overlap_says_what_was_consumed_in_the_window() -> None:
    streams = [
        Stream("candidates message.sent", 1000, {"start": 100, "end": 600, "final": 1000}),
        Stream("import rows", 1000, {"start": 250, "end": 250, "final": 750}),
        Stream("candidates engagement.scored", None, {"start": 5, "end": 25, "final": 40}),
    ]

    note = Overlap(2.0, 12.0, None, streams).describe()

    assert note == (
        "load not drained, window 2.0-12.0 s: "
        "candidates message.sent 500 in the window (50/s) of 1,000, 100 before it; "
        "import rows 0 in the window (0/s) of 1,000, 250 before it, 750 by the end; "
        "candidates engagement.scored 20 in the window (2/s), 40 in all"
    )
    assert (
        Overlap(2.0, 12.0, 30.25, streams[:1])
        .describe()
        .startswith("load drained 30.2 s after it started")
    )
