"""Repeated warnings are logged once, then at most once per interval with a suppressed count."""

from __future__ import annotations

import logging

import pytest

from crm_shared.log_limits import MAX_TRACKED_MESSAGES, RepeatedLogLimiter
from crm_shared.settings import ServiceSettings
from crm_shared.telemetry import configure_logging

pytestmark = pytest.mark.unit


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def record(
    name: str = "aiokafka.client",
    level: int = logging.ERROR,
    msg: str = "Unable connect to node with id %s: %s",
    args: tuple[object, ...] = (1, "refused"),
) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)


def test_the_first_error_passes_then_one_per_interval_with_a_count() -> None:
    clock = FakeClock()
    limiter = RepeatedLogLimiter(30, clock=clock)
    assert limiter.filter(record())
    passed = []
    for second in range(1, 61):
        clock.now = 1000.0 + second
        for _ in range(25):  # the storm of issue 14: ~1,500 attempts a minute per loop
            line = record(args=(1, f"refused {second}"))
            if limiter.filter(line):
                passed.append(line.getMessage())
    assert passed == [
        "Unable connect to node with id 1: refused 30 (725 similar suppressed)",
        "Unable connect to node with id 1: refused 60 (749 similar suppressed)",
    ]


def test_kinds_are_limited_apart_and_only_in_the_storming_loggers() -> None:
    clock = FakeClock()
    limiter = RepeatedLogLimiter(30, clock=clock)
    assert limiter.filter(record())
    assert not limiter.filter(record())
    # Another template, another logger, another level: each is its own kind.
    assert limiter.filter(record(msg="Unable to update metadata from %s", args=([1],)))
    assert limiter.filter(record(name="crm_shared.outbox"))
    assert limiter.filter(record(level=logging.WARNING))
    # Application loggers, and info lines anywhere, are never limited.
    for _ in range(3):
        assert limiter.filter(record(name="crm_candidates.api"))
        assert limiter.filter(record(level=logging.INFO))
    assert limiter.filter(record(name="aiokafkaish"))
    assert limiter.filter(record(name="aiokafkaish"))


def test_an_interval_of_zero_logs_everything() -> None:
    limiter = RepeatedLogLimiter(0, clock=FakeClock())
    assert all(limiter.filter(record()) for _ in range(5))


def test_messages_built_without_a_template_cannot_grow_the_filter_without_bound() -> None:
    clock = FakeClock()
    limiter = RepeatedLogLimiter(30, clock=clock)
    for number in range(MAX_TRACKED_MESSAGES * 3):
        assert limiter.filter(record(msg=f"failed item {number}", args=()))
    assert len(limiter._seen) <= MAX_TRACKED_MESSAGES


def test_the_service_log_handler_limits_repeated_kafka_errors_and_keeps_redaction(
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = ServiceSettings(service_name="logs", log_json=False, log_repeat_interval_seconds=60)
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    configure_logging(settings)
    configure_logging(settings)  # a second app in one process must not stack the filter
    try:
        [handler] = root.handlers
        assert sum(isinstance(f, RepeatedLogLimiter) for f in handler.filters) == 1
        client = logging.getLogger("aiokafka.client")
        for _ in range(100):
            client.error("Unable connect to node with id %s: %s", 1, "refused")
        logging.getLogger("crm_shared.outbox").warning("see /public/preferences/eyJ.secret-sig")
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
    lines = capsys.readouterr().err.splitlines()
    assert lines.count("Unable connect to node with id 1: refused") == 1
    assert len(lines) == 2
    assert "secret-sig" not in lines[1]
