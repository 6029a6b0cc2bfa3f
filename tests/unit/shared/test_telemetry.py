"""Log lines are JSON and carry the active trace and span ids."""

from __future__ import annotations

import json
import logging

import pytest
from opentelemetry.sdk.trace import TracerProvider

from crm_shared.telemetry import JsonLogFormatter, current_trace_context

pytestmark = pytest.mark.unit


def test_a_log_line_inside_a_span_names_its_trace() -> None:
    formatter = JsonLogFormatter("candidates")
    tracer = TracerProvider().get_tracer("test")
    record = logging.LogRecord("crm", logging.INFO, __file__, 1, "stored %s", ("c1",), None)
    with tracer.start_as_current_span("request") as span:
        line = json.loads(formatter.format(record))
        carrier = current_trace_context()
    context = span.get_span_context()
    assert line["message"] == "stored c1"
    assert line["service"] == "candidates"
    assert line["trace_id"] == format(context.trace_id, "032x")
    assert line["span_id"] == format(context.span_id, "016x")
    assert carrier["traceparent"].split("-")[1] == line["trace_id"]


def test_a_log_line_outside_any_span_has_no_trace() -> None:
    record = logging.LogRecord("crm", logging.WARNING, __file__, 1, "idle", (), None)
    line = json.loads(JsonLogFormatter("gateway").format(record))
    assert "trace_id" not in line
    assert line["level"] == "WARNING"
