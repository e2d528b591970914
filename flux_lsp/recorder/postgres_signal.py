"""The commit signal of a PostgreSQL recorder: readers hear at once that records landed.

The writer's `bump_changes` sends `NOTIFY flux_recorder_changed` with every commit; `changes`
LISTENs on its own connection and yields True when one arrives, False after `fallback` seconds
of silence (the polling fallback), as `signal.changes` does for a recorder file. When the
database cannot be reached it keeps yielding False every `fallback` seconds and listens again.
Imports psycopg and the recorder's PostgreSQL schema only.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import psycopg

from flux_lsp.recorder.postgres_schema import CHANGES_CHANNEL

RETRY_SECONDS = 1.0
"""How soon a lost listening connection is opened again."""


async def changes(url: str, fallback: float) -> AsyncIterator[bool]:
    """Yield True for each notified commit (several close together count once), False after
    `fallback` seconds without one. Runs until the caller stops iterating."""
    while True:
        try:
            conn = await psycopg.AsyncConnection.connect(url, autocommit=True)
        except psycopg.Error:
            await asyncio.sleep(min(fallback, RETRY_SECONDS))
            yield False
            continue
        try:
            await conn.execute(f"LISTEN {CHANGES_CHANNEL}")
            while True:
                heard = False
                async for _ in conn.notifies(timeout=fallback, stop_after=1):
                    heard = True
                yield heard
        except psycopg.Error:
            await asyncio.sleep(min(fallback, RETRY_SECONDS))
            yield False
        finally:
            await conn.close()
