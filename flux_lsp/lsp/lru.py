"""`Lru`: the language server's bounded caches, which evict one entry at a time.

A cache holds a few entries per open file (`per_file`, at least `least`): when it is full the
entry used longest ago goes, never the whole cache, so hovering over many open files does not
throw away what the next hover needs. May import the standard library only.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
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

    def clear(self) -> None:
        self._entries.clear()
