"""Holders of one key take turns; holders of different keys do not wait for each other."""

from __future__ import annotations

import asyncio
import gc

from crm_shared import KeyedLocks


async def test_holders_of_one_key_take_turns() -> None:
    locks = KeyedLocks()
    inside = 0
    most_inside = 0

    async def hold() -> None:
        nonlocal inside, most_inside
        async with locks.holding("tenant/address"):
            inside += 1
            most_inside = max(most_inside, inside)
            await asyncio.sleep(0.01)
            inside -= 1

    await asyncio.gather(*(hold() for _ in range(5)))
    assert most_inside == 1


async def test_holders_of_other_keys_do_not_wait() -> None:
    locks = KeyedLocks()
    first_inside = asyncio.Event()
    second_done = asyncio.Event()

    async def first() -> None:
        async with locks.holding("a"):
            first_inside.set()
            await asyncio.wait_for(second_done.wait(), timeout=2)

    async def second() -> None:
        await first_inside.wait()
        async with locks.holding("b"):
            second_done.set()

    await asyncio.gather(first(), second())


async def test_a_lock_nobody_holds_is_forgotten() -> None:
    locks = KeyedLocks()
    for n in range(100):
        async with locks.holding(f"key-{n}"):
            pass
    gc.collect()
    assert len(locks._locks) == 0
