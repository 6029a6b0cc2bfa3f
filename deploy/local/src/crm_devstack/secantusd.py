"""Runs secantusd-py so that SIGTERM and SIGINT always reach its shutdown handler, and so that a
transaction its client abandoned is aborted on a timer, as mongod does.

SecantusDB 0.7.0b3 reaps transactions idle past their lifetime only when some client sends the
next transaction statement. A client that dies (or gives up on a connection) in the middle of a
transaction therefore leaves its documents locked, and a plain write to one of them retries
without limit until an unrelated transaction happens to run: a request, a worker or a test then
waits forever. mongod aborts such a transaction after `transactionLifetimeLimitSeconds` (60 s by
default) on its own; the reaper thread here does the same by asking the server's transaction
registry to prune itself every second.

Two more costs of 0.7.0b3's transaction registry are changed here, without changing what it
decides (both found by profiling the test run's server, 2026-12-05):

- Pruning took the registry's lock and then waited for each transaction's own lock. A
  transaction running a long statement (an update scanning an index for seconds) holds its own
  lock, so the pruner held the registry's lock for as long, and every transaction statement and
  retryable write of every client waited behind it: the whole server stalled for tens of
  seconds and clients timed out (30 s). A transaction whose lock is taken is running a
  statement, so it is not idle: the pruner now passes it by instead of waiting.
- The records of retryable writes (kept 30 min, at most 10,000) were pruned on every retryable
  write by scanning all of them, and, once at the cap, by sorting all of them: a few
  milliseconds under the registry's lock for every plain write, after a couple of minutes of the
  test stack's traffic. They are now kept in recording order and pruned from the oldest end.
"""

from __future__ import annotations

import argparse
import collections
import os
import signal
import sys
import threading
import weakref
from typing import Any

_SHUTDOWN_SIGNALS = {signal.SIGTERM, signal.SIGINT}
_REAP_INTERVAL_SECONDS = 1.0
DEFAULT_TRANSACTION_LIFETIME_SECONDS = 60.0


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


def _prune_idle_transactions(registry: Any) -> int:
    """Aborts the registry's transactions idle past its lifetime (its `_prune_locked`, called
    with its lock held), passing by any transaction running a statement now."""
    from secantus.transactions import TxnState

    cutoff = registry._time() - registry._lifetime
    reaped = 0
    for transaction in list(registry._txns.values()):
        if not transaction.mutex.acquire(blocking=False):
            continue
        try:
            if transaction.state is TxnState.IN_PROGRESS and transaction.last_use < cutoff:
                registry._rollback_quietly(transaction)
                transaction.state = TxnState.ABORTED
                reaped += 1
        finally:
            transaction.mutex.release()
    return reaped


def _prune_retryable_records(registry: Any) -> None:
    """Drops the registry's retryable-write records past their lifetime or over its cap (its
    `_prune_retryable_locked`), oldest first, looking at no record it keeps."""
    from secantus import transactions

    records: collections.OrderedDict[Any, tuple[Any, float, bytes]] = registry._retryable
    cutoff = registry._time() - transactions._RETRYABLE_RECORD_LIFETIME_SECONDS
    while records:
        _reply, recorded_at, _identity = records[next(iter(records))]
        if recorded_at >= cutoff and len(records) <= transactions._RETRYABLE_RECORD_MAX:
            return
        records.popitem(last=False)


def _track_transaction_registries(lifetime_seconds: float) -> weakref.WeakSet[Any]:
    """Collects every transaction registry the server creates, with `lifetime_seconds` as the
    idle limit of a transaction, its pruning changed as the module's docstring says."""
    from secantus.transactions import TransactionRegistry

    registries: weakref.WeakSet[Any] = weakref.WeakSet()
    original_init = TransactionRegistry.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        kwargs["lifetime_seconds"] = lifetime_seconds
        original_init(self, *args, **kwargs)
        self._retryable = collections.OrderedDict(self._retryable)
        registries.add(self)

    TransactionRegistry.__init__ = init
    TransactionRegistry._prune_locked = _prune_idle_transactions
    TransactionRegistry._prune_retryable_locked = _prune_retryable_records
    return registries


def _reap_abandoned_transactions(registries: weakref.WeakSet[Any], done: threading.Event) -> None:
    while not done.wait(_REAP_INTERVAL_SECONDS):
        for registry in list(registries):
            reaped = registry.prune_expired()
            if reaped:
                print(
                    f"crm_devstack.secantusd: aborted {reaped} abandoned transaction(s)",
                    file=sys.stderr,
                    flush=True,
                )


def _split_arguments(argv: list[str]) -> tuple[float, list[str]]:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument(
        "--transaction-lifetime-seconds", type=float, default=DEFAULT_TRANSACTION_LIFETIME_SECONDS
    )
    ours, secantus_arguments = parser.parse_known_args(argv)
    return float(ours.transaction_lifetime_seconds), secantus_arguments


def main() -> None:
    """Starts secantus with shutdown signals routed through a dedicated thread and abandoned
    transactions reaped on a timer."""
    lifetime_seconds, secantus_arguments = _split_arguments(sys.argv[1:])
    # secantus blocks its main thread in Event.wait(); a signal the kernel delivers to one of its
    # other threads never interrupts that wait, so its handler would not run and the server would
    # ignore SIGTERM. Blocking the signals everywhere and taking them with sigtimedwait on one
    # thread runs the handler every time.
    signal.pthread_sigmask(signal.SIG_BLOCK, _SHUTDOWN_SIGNALS)
    done = threading.Event()
    relay = threading.Thread(target=_relay_signals, args=(done,), name="signal-relay")
    relay.start()
    # Imported only now so that any thread secantus starts inherits the blocked signal mask.
    registries = _track_transaction_registries(lifetime_seconds)
    reaper = threading.Thread(
        target=_reap_abandoned_transactions,
        args=(registries, done),
        name="transaction-reaper",
        daemon=True,
    )
    reaper.start()
    from secantus.cli import main as secantus_main

    try:
        code = secantus_main(secantus_arguments)
    finally:
        done.set()
    sys.exit(code)


if __name__ == "__main__":
    main()
