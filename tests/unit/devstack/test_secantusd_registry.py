"""The devstack's changes to SecantusDB's transaction registry (crm_devstack.secantusd): pruning
never waits for a transaction running a statement, and retryable-write records are pruned from
the oldest end, keeping what the server's own pruning keeps."""

from __future__ import annotations

import collections
import threading

import pytest
from secantus import transactions
from secantus.transactions import TransactionRegistry, TxnState

from crm_devstack.secantusd import (
    _prune_idle_transactions,
    _prune_retryable_records,
    _track_transaction_registries,
)

pytestmark = pytest.mark.unit

LIFETIME = 60.0
OK = {"ok": 1.0, "n": 1}


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def a_registry(clock: Clock) -> TransactionRegistry:
    registry = TransactionRegistry(lifetime_seconds=LIFETIME, time_func=clock)
    registry._retryable = collections.OrderedDict()
    return registry


def test_a_transaction_running_a_statement_is_passed_by_then_reaped_once_idle() -> None:
    clock = Clock()
    registry = a_registry(clock)
    running, error = registry.for_statement(b"session-1", None, 1, start=True)
    assert running is not None
    assert error is None
    clock.now += LIFETIME + 1
    statement_started, statement_may_end = threading.Event(), threading.Event()

    def long_statement() -> None:
        with running.mutex:
            statement_started.set()
            statement_may_end.wait(10)

    statement = threading.Thread(target=long_statement)
    statement.start()
    statement_started.wait(5)
    reaped: list[int] = []
    pruner = threading.Thread(target=lambda: reaped.append(_prune_idle_transactions(registry)))
    pruner.start()
    pruner.join(timeout=2)
    try:
        assert not pruner.is_alive(), "the pruner waited for the running statement"
        assert reaped == [0]
        assert running.state is TxnState.IN_PROGRESS
    finally:
        statement_may_end.set()
        statement.join()

    assert _prune_idle_transactions(registry) == 1
    assert running.state is TxnState.ABORTED


def test_a_transaction_used_within_its_lifetime_is_kept() -> None:
    clock = Clock()
    registry = a_registry(clock)
    transaction, _ = registry.for_statement(b"session-1", None, 1, start=True)
    clock.now += LIFETIME - 1

    assert _prune_idle_transactions(registry) == 0
    assert transaction is not None
    assert transaction.state is TxnState.IN_PROGRESS


def test_retryable_records_over_the_cap_are_dropped_oldest_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(transactions, "_RETRYABLE_RECORD_MAX", 3)
    monkeypatch.setattr(TransactionRegistry, "_prune_retryable_locked", _prune_retryable_records)
    clock = Clock()
    registry = a_registry(clock)
    for number in range(1, 6):
        clock.now += 1
        registry.record_retryable(b"session-1", number, b"write", OK)

    assert [number for _session, number in registry._retryable] == [3, 4, 5]
    assert registry.retryable_reply(b"session-1", 5, b"write") == OK
    assert registry.retryable_reply(b"session-1", 2, b"write") is None


def test_retryable_records_past_their_lifetime_are_dropped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(TransactionRegistry, "_prune_retryable_locked", _prune_retryable_records)
    clock = Clock()
    registry = a_registry(clock)
    registry.record_retryable(b"session-1", 1, b"write", OK)
    registry.record_retryable(b"session-2", 1, b"write", OK)
    clock.now += transactions._RETRYABLE_RECORD_LIFETIME_SECONDS - 1
    registry.record_retryable(b"session-3", 1, b"write", OK)
    clock.now += 2

    assert registry.retryable_reply(b"session-1", 1, b"write") is None
    assert list(registry._retryable) == [(b"session-3", 1)]


def test_the_server_creates_its_registries_with_both_changes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("__init__", "_prune_locked", "_prune_retryable_locked"):
        monkeypatch.setattr(TransactionRegistry, name, getattr(TransactionRegistry, name))
    registries = _track_transaction_registries(lifetime_seconds=15)

    registry = TransactionRegistry()

    assert list(registries) == [registry]
    assert registry._lifetime == 15
    assert isinstance(registry._retryable, collections.OrderedDict)
    assert TransactionRegistry._prune_locked is _prune_idle_transactions
    assert TransactionRegistry._prune_retryable_locked is _prune_retryable_records
