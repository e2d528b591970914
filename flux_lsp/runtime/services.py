"""The ctx services every runtime gets by default, beyond `ctx.db`, and the tables they keep.

`standard_services(runtime, code, trace)` builds them once per execution, for the run's code
version; the services themselves live in `email.py`, `stripe.py`, `queue.py` and
`http_client.py`.
`apply_service_schema` creates Flux's own app tables (`email_sends`, `_flux_jobs`); the runtime
applies it right after the project's migrations.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from flux_lsp.runtime.email import EMAIL_SENDS_SCHEMA, EmailService
from flux_lsp.runtime.http_client import HttpService
from flux_lsp.runtime.queue import JOBS_SCHEMA, QueueService, add_trace_columns
from flux_lsp.runtime.stripe import StripeService

if TYPE_CHECKING:
    from flux_lsp.runtime.database import AppDatabase
    from flux_lsp.runtime.inflight import Trace
    from flux_lsp.runtime.runtime import LoadedCode, Runtime


def standard_services(runtime: Runtime, code: LoadedCode, trace: Trace) -> Mapping[str, Any]:
    """`ctx.email`, `ctx.stripe`, `ctx.queue` and `ctx.http` for one execution."""
    return {
        "email": EmailService(runtime, code, trace),
        "stripe": StripeService(code, trace),
        "queue": QueueService(runtime, code, trace),
        "http": HttpService(runtime, code, trace),
    }


def service_schema(dialect: str) -> list[str]:
    """The statements creating the services' tables, in `dialect` (timestamps are epoch
    seconds: PostgreSQL's REAL is single precision, so there they are DOUBLE PRECISION)."""
    statements = [
        statement.strip()
        for script in (EMAIL_SENDS_SCHEMA, JOBS_SCHEMA)
        for statement in script.split(";")
        if statement.strip()
    ]
    if dialect == "postgresql":
        statements = [re.sub(r"\bREAL\b", "DOUBLE PRECISION", s) for s in statements]
    return statements


async def apply_service_schema(database: AppDatabase) -> None:
    """Create the tables the services keep in the app database, if missing (and the columns
    added to them since)."""
    await database.apply_schema(service_schema(database.dialect))
    await add_trace_columns(database)
