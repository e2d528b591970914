"""The ctx services every runtime gets by default, beyond `ctx.db`, and the tables they keep.

Each entry of `default_service_factories()` is a factory `(runtime, trace) -> {name: service}`
called once per execution; the services themselves live in `email.py`, `stripe.py`, `queue.py`
and `http_client.py` (imported on first use, since they build on the executor).
`apply_service_schema` creates Flux's own app tables (`email_sends`, `_flux_jobs`); the runtime
applies it right after the project's migrations.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flux_lsp.runtime.database import AppDatabase
    from flux_lsp.runtime.executor import Runtime, ServiceFactory
    from flux_lsp.runtime.trace import Trace


def standard_services(runtime: Runtime, trace: Trace) -> Mapping[str, Any]:
    """`ctx.email`, `ctx.stripe`, `ctx.queue` and `ctx.http` for one execution."""
    from flux_lsp.runtime.email import EmailService
    from flux_lsp.runtime.http_client import HttpService
    from flux_lsp.runtime.queue import QueueService
    from flux_lsp.runtime.stripe import StripeService

    return {
        "email": EmailService(runtime, trace),
        "stripe": StripeService(runtime, trace),
        "queue": QueueService(runtime, trace),
        "http": HttpService(runtime, trace),
    }


def default_service_factories() -> list[ServiceFactory]:
    """Factories for `ctx.email`, `ctx.stripe`, `ctx.queue` and `ctx.http`."""
    return [standard_services]


def apply_service_schema(database: AppDatabase) -> None:
    """Create the tables the services keep in the app database, if missing."""
    from flux_lsp.runtime.email import EMAIL_SENDS_SCHEMA
    from flux_lsp.runtime.queue import JOBS_SCHEMA

    with database.transaction() as conn:
        for script in (EMAIL_SENDS_SCHEMA, JOBS_SCHEMA):
            for statement in script.split(";"):
                if statement.strip():
                    conn.execute(statement)
