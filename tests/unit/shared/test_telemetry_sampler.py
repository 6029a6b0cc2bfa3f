"""Which spans are recorded: parent-based ratio sampling, nothing without an exporter."""

from __future__ import annotations

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import NonRecordingSpan

from crm_shared.telemetry import trace_sampler


def _root_span_recorded(exporting: bool, ratio: float) -> bool:
    tracer = TracerProvider(sampler=trace_sampler(exporting, ratio)).get_tracer("test")
    with tracer.start_as_current_span("request") as span:
        return span.is_recording()


def test_a_ratio_of_one_records_every_new_trace_and_zero_none() -> None:
    assert all(_root_span_recorded(True, 1.0) for _ in range(20))
    assert not any(_root_span_recorded(True, 0.0) for _ in range(20))


def test_a_request_follows_its_callers_sampling_decision() -> None:
    tracer = TracerProvider(sampler=trace_sampler(True, 0.0)).get_tracer("test")
    sampled_parent = TracerProvider(sampler=trace_sampler(True, 1.0)).get_tracer("caller")
    with sampled_parent.start_as_current_span("caller"), tracer.start_as_current_span("hop") as hop:
        assert hop.is_recording()


def test_without_an_exporter_nothing_is_recorded_but_trace_ids_remain() -> None:
    tracer = TracerProvider(sampler=trace_sampler(False, 1.0)).get_tracer("test")
    with tracer.start_as_current_span("request") as span:
        assert isinstance(span, NonRecordingSpan)
        # The id the gateway tells the caller (X-Trace-Id) and logs carry still exists.
        assert span.get_span_context().is_valid
