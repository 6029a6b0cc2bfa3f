"""The fastest honest SMTP sink: a real SMTP server (aiosmtpd) that accepts every message and
keeps only a count, for measuring a sender without the disk writes of the devstack sink.

Run: `python -m bench.smtp_counter --port 2525`.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from typing import Any

from aiosmtpd.controller import Controller


class CountingHandler:
    """Accepts every message and counts it."""

    def __init__(self) -> None:
        self.received = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received += 1
        return "250 OK"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.smtp_counter")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    handler = CountingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=args.port)
    controller.start()
    try:
        stopping.wait()
    finally:
        controller.stop()
        print(f"received {handler.received}", flush=True)


if __name__ == "__main__":
    main()
