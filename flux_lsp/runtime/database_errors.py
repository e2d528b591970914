"""The app database's errors: what a `ctx.db` call raises when it cannot be carried out.

Apart from `runtime.database` (which needs asyncio) so that a command can recognise them
without importing the app database: the CLI's `user_errors` shows them as one line. May import
`flux_lsp.model` only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flux_lsp.model import describe_where


class DatabaseError(Exception):
    """A `ctx.db` call that cannot be carried out as asked (unknown table, bad column, ...)."""


class DatabaseBusy(DatabaseError):
    """The database stayed locked by someone else for longer than the bounded wait.

    The gateway answers 503 with `Retry-After` instead of a 500."""

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RowNotFound(DatabaseError):
    """An update or delete matched no row."""

    def __init__(self, table: str, where: Mapping[str, Any]) -> None:
        self.table = table
        self.where = dict(where)
        super().__init__(f"Row not found: {table} WHERE {describe_where(where)}")
