"""`Lru`: the language server's bounded caches, which evict one entry at a time.

A cache holds a few entries per open file (`per_file`, at least `least`), or a fixed number
(`Lru.fixed`): when it is full the
entry used longest ago goes, never the whole cache, so hovering over many open files does not
throw away what the next hover needs. `get_or_compute` works a missing value out once however
many ask for it meanwhile (a hover arriving while the file's hover state is being prepared
waits for that work instead of repeating it). May import the standard library only.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Lru(Generic[K, V]):
    """A least-recently-used cache whose capacity follows the number of open files."""

    def __init__(self, open_files: Callable[[], int], per_file: int, least: int) -> None:
        self._open_files = open_files
        self._per_file = per_file
        self._least = least
        self._entries: OrderedDict[K, V] = OrderedDict()
        self._pending: dict[K, asyncio.Future[V]] = {}

    @classmethod
    def fixed(cls, capacity: int) -> Lru[K, V]:
        """A cache of `capacity` entries, whatever the number of open files."""
        return cls(lambda: 0, per_file=0, least=capacity)

    @property
    def capacity(self) -> int:
        return max(self._least, self._per_file * self._open_files())

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K) -> V | None:
        value = self._entries.get(key)
        if value is not None:
            self._entries.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        self._entries[key] = value
        self._entries.move_to_end(key)
        capacity = self.capacity
        while len(self._entries) > capacity:
            self._entries.popitem(last=False)

    async def get_or_compute(
        self,
        key: K,
        compute: Callable[[], Awaitable[V]],
        fresh: Callable[[V], bool] | None = None,
    ) -> V:
        """The value of `key`, computed by `compute()` once and kept (and again when `fresh`
        says the kept one is stale); whoever asks while it is being computed waits for the
        same result (or exception). A caller that is cancelled stops waiting without
        cancelling the work the others wait for."""
        value = self.get(key)
        if value is not None and (fresh is None or fresh(value)):
            return value
        pending = self._pending.get(key)
        if pending is None:
            pending = asyncio.ensure_future(compute())
            self._pending[key] = pending
            pending.add_done_callback(lambda done: self._settle(key, done))
        return await asyncio.shield(pending)

    def _settle(self, key: K, done: asyncio.Future[V]) -> None:
        if self._pending.get(key) is done:
            del self._pending[key]
        if not done.cancelled() and done.exception() is None:
            self.put(key, done.result())

    def clear(self) -> None:
        self._entries.clear()
