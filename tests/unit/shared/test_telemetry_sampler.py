"""Which spans are recorded: parent-based ratio sampling."""

from __future__ import annotations

from opentelemetry.sdk.trace import TracerProvider

from crm_shared.telemetry import trace_sampler


def _root_span_recorded(ratio: float) -> bool:
    tracer = TracerProvider(sampler=trace_sampler(ratio)).get_tracer("test")
    with tracer.start_as_current_span("request") as span:
        return span.is_recording()


def test_a_ratio_of_one_records_every_new_trace_and_zero_none() -> None:
    assert all(_root_span_recorded(1.0) for _ in range(20))
    assert not any(_root_span_recorded(0.0) for _ in range(20))


def test_a_request_follows_its_callers_sampling_decision() -> None:
    tracer = TracerProvider(sampler=trace_sampler(0.0)).get_tracer("test")
    sampled_parent = TracerProvider(sampler=trace_sampler(1.0)).get_tracer("caller")
    with sampled_parent.start_as_current_span("caller"), tracer.start_as_current_span("hop") as hop:
        assert hop.is_recording()
