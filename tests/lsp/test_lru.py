"""The language server's caches evict the entry used longest ago, one at a time."""

from __future__ import annotations

import asyncio

import pytest

from flux_lsp.lsp.lru import Lru


def test_a_full_cache_evicts_one_entry_the_least_recently_used() -> None:
    open_files = [0]
    cache: Lru[str, int] = Lru(lambda: open_files[0], per_file=2, least=3)
    for i, key in enumerate("abc"):
        cache.put(key, i)
    assert cache.get("a") == 0  # a is now the most recently used
    cache.put("d", 3)
    assert cache.get("b") is None  # only b went
    assert [cache.get(k) for k in "acd"] == [0, 2, 3]


def test_capacity_follows_the_open_files() -> None:
    open_files = [10]
    cache: Lru[int, int] = Lru(lambda: open_files[0], per_file=2, least=3)
    for i in range(30):
        cache.put(i, i)
    assert len(cache) == 20
    assert cache.get(9) is None and cache.get(10) == 10


def test_a_fixed_cache_keeps_its_capacity() -> None:
    cache: Lru[int, int] = Lru.fixed(4)
    for i in range(10):
        cache.put(i, i)
    assert cache.capacity == 4 and len(cache) == 4
    assert [cache.get(i) for i in range(10)] == [None] * 6 + [6, 7, 8, 9]


async def test_a_value_asked_for_twice_meanwhile_is_computed_once() -> None:
    cache: Lru[str, int] = Lru(lambda: 1, per_file=2, least=3)
    calls = []
    release = asyncio.Event()

    async def compute() -> int:
        calls.append(1)
        await release.wait()
        return 42

    first = asyncio.ensure_future(cache.get_or_compute("a", compute))
    second = asyncio.ensure_future(cache.get_or_compute("a", compute))
    await asyncio.sleep(0)
    release.set()
    assert await first == 42 and await second == 42
    assert calls == [1] and cache.get("a") == 42


async def test_a_cancelled_caller_does_not_cancel_the_others_wait() -> None:
    cache: Lru[str, int] = Lru(lambda: 1, per_file=2, least=3)
    release = asyncio.Event()

    async def compute() -> int:
        await release.wait()
        return 7

    first = asyncio.ensure_future(cache.get_or_compute("a", compute))
    second = asyncio.ensure_future(cache.get_or_compute("a", compute))
    await asyncio.sleep(0)
    first.cancel()
    release.set()
    assert await second == 7
    assert first.cancelled()


async def test_a_failed_computation_is_not_kept() -> None:
    cache: Lru[str, int] = Lru(lambda: 1, per_file=2, least=3)

    async def broken() -> int:
        raise ValueError("recorder gone")

    with pytest.raises(ValueError):
        await cache.get_or_compute("a", broken)
    assert cache.get("a") is None and len(cache) == 0

    async def fine() -> int:
        return 3

    assert await cache.get_or_compute("a", fine) == 3
