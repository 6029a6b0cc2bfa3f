"""Rate limits for repeated log lines: an outage must cost a few lines a minute, not 400 MB.

With Kafka down, every client loop of every service logged the same connection error several
times a second (862k lines in nine minutes, issue 14). The filter lets the first occurrence of a
warning or error through, then at most one per interval, and says how many it held back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

# Loggers whose warnings repeat in a storm when the broker or the database is away: the Kafka
# client, FastStream's subscribers, and the platform's relay, workers and consumers.
STORMING_LOGGERS = ("aiokafka", "faststream", "crm_shared")
# Distinct messages remembered at most; a message built with an f-string is a new key each time,
# and the filter must not grow without bound because of one.
MAX_TRACKED_MESSAGES = 1024


@dataclass
class _Seen:
    passed_at: float
    suppressed: int = 0


class RepeatedLogLimiter(logging.Filter):
    """Passes the first warning or error of a kind, then at most one per `interval_seconds`,
    annotated with how many similar ones it suppressed in between.

    A kind is the logger, the level and the message template (before its arguments), so
    "Unable connect to node with id %s" is one kind whichever node it names. Records below
    WARNING and records of loggers outside `prefixes` pass untouched.
    """

    def __init__(
        self,
        interval_seconds: float,
        *,
        prefixes: Sequence[str] = STORMING_LOGGERS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.interval_seconds = interval_seconds
        self._prefixes = tuple(prefixes)
        self._clock = clock
        self._seen: dict[tuple[str, int, str], _Seen] = {}
        # Filters run on whichever thread logs; the metrics listener and executors log too.
        self._lock = threading.Lock()

    def _applies_to(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or self.interval_seconds <= 0:
            return False
        return any(
            record.name == prefix or record.name.startswith(prefix + ".")
            for prefix in self._prefixes
        )

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._applies_to(record):
            return True
        key = (record.name, record.levelno, str(record.msg))
        now = self._clock()
        with self._lock:
            seen = self._seen.get(key)
            if seen is not None and now - seen.passed_at < self.interval_seconds:
                seen.suppressed += 1
                return False
            suppressed = seen.suppressed if seen is not None else 0
            if seen is None and len(self._seen) >= MAX_TRACKED_MESSAGES:
                self._forget_quiet(now)
            self._seen[key] = _Seen(passed_at=now)
        if suppressed:
            # Formatting here keeps the count in the one line every handler writes.
            record.msg = f"{record.getMessage()} ({suppressed} similar suppressed)"
            record.args = None
        return True

    def _forget_quiet(self, now: float) -> None:
        """Drops kinds whose interval has passed; if every kind is recent, the oldest half."""
        quiet = [
            key for key, seen in self._seen.items() if now - seen.passed_at >= self.interval_seconds
        ]
        if not quiet:
            by_age = sorted(self._seen, key=lambda key: self._seen[key].passed_at)
            quiet = by_age[: len(by_age) // 2]
        for key in quiet:
            del self._seen[key]


def install_log_rate_limit(handler: logging.Handler, interval_seconds: float) -> None:
    """Adds the limiter to `handler` (once): a handler filter sees the records of every logger
    below the root, where a logger's own filter would miss those of its children."""
    for existing in handler.filters:
        if isinstance(existing, RepeatedLogLimiter):
            existing.interval_seconds = interval_seconds
            return
    handler.addFilter(RepeatedLogLimiter(interval_seconds))
