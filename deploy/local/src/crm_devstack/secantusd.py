"""Runs secantusd-py so that SIGTERM and SIGINT always reach its shutdown handler."""

from __future__ import annotations

import os
import signal
import sys
import threading

_SHUTDOWN_SIGNALS = {signal.SIGTERM, signal.SIGINT}


def _relay_signals(done: threading.Event) -> None:
    """Waits for a shutdown signal and runs the handler secantus installed for it."""
    while not done.is_set():
        info = signal.sigtimedwait(_SHUTDOWN_SIGNALS, 0.5)
        if info is None:
            continue
        handler = signal.getsignal(info.si_signo)
        if not callable(handler):
            # Secantus has not installed its handler yet: nothing to close, so exit as killed.
            os._exit(128 + info.si_signo)
        # Secantus's handler stops the server, then calls sys.exit, which only ends this thread;
        # the main thread's server.wait() returns and the process exits normally.
        handler(info.si_signo, None)
        return


def main() -> None:
    """Starts secantus with shutdown signals routed through a dedicated thread."""
    # secantus blocks its main thread in Event.wait(); a signal the kernel delivers to one of its
    # other threads never interrupts that wait, so its handler would not run and the server would
    # ignore SIGTERM. Blocking the signals everywhere and taking them with sigtimedwait on one
    # thread runs the handler every time.
    signal.pthread_sigmask(signal.SIG_BLOCK, _SHUTDOWN_SIGNALS)
    done = threading.Event()
    relay = threading.Thread(target=_relay_signals, args=(done,), name="signal-relay")
    relay.start()
    # Imported only now so that any thread secantus starts inherits the blocked signal mask.
    from secantus.cli import main as secantus_main

    try:
        code = secantus_main(sys.argv[1:])
    finally:
        done.set()
    sys.exit(code)


if __name__ == "__main__":
    main()
