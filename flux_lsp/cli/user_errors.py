"""How the CLI reports a user's mistake: one line on stderr, exit code 1, no traceback.

It exits with `SystemExit`, which typer lets through as it is (the exit code a `typer.Exit`
would give), so that it serves the commands typer runs and `flux tail`'s fast path alike
without importing typer."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn


class UserError(Exception):
    """A problem the user can fix; its message is printed as it is."""


def fail(message: str) -> NoReturn:
    sys.stderr.write(f"flux: {message}\n")
    raise SystemExit(1)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn known user-caused errors into `fail()`."""
    from flux_lsp.project import ConfigError
    from flux_lsp.recorder.query import QueryError
    from flux_lsp.recorder.store import RecorderError
    from flux_lsp.runtime.database_errors import DatabaseError  # not the database: no asyncio

    try:
        yield
    except (UserError, ConfigError, QueryError, RecorderError, DatabaseError) as exc:
        fail(str(exc))
