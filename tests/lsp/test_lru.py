"""The language server's caches evict the entry used longest ago, one at a time."""

from __future__ import annotations

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
