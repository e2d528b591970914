"""`ExecutionSummary`: the one header every report that shows an execution carries.

Target, short id, time, status, outcome, duration and the error line are decided here once;
`flux tail`, `flux trace`, `flux trace diff`, `flux why` and the editor render these fields.
A report holds the summary as its `execution` field, which the JSON encoder inlines (the
report's JSON has `id`, `short_id`, `target`, ... at its top level).

JSON shape:

    {"id": "7c8d9e0f1a2b3c4d", "kind": "http", "function": "stripe_webhook",
     "method": "POST", "path": "/stripe_webhook", "target": "POST /stripe_webhook",
     "status": "500", "outcome": "failed", "duration_ms": 32.1, "started_at": 1773130462.0,
     "error": {"type": "RowNotFound", "message": "Row not found: ...",
               "location": "stripe_webhook.py:12" | null} | null,
     "code_version": "2514c17b8036", "short_id": "req:7c8d9e0f", "time": "09:14:22",
     "started_at_iso": "2026-03-10T09:14:22.000+01:00"}

`outcome` is `ok`, `client_error` (4xx) or `failed` (5xx, failed jobs). `target` is what the
seed prints first: `POST /create_user`, or `JOB  send_onboarding_email` for queue jobs; a
replay is marked as one (`REPLAY  POST /stripe_webhook`).
Imports `model`, `encode` and `analysis.values` only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from flux_lsp.analysis.values import clock, duration, iso
from flux_lsp.model import Execution, short_id


@dataclass(slots=True)
class ErrorLine:
    """An execution's error as one line: type, message and where in user code."""

    type: str
    message: str
    location: str | None = None
    """`stripe_webhook.py:12`."""


@dataclass(slots=True)
class ExecutionSummary:
    id: str
    kind: str
    function: str
    method: str
    path: str
    target: str
    status: str
    outcome: str
    duration_ms: float
    started_at: float
    error: ErrorLine | None = None
    code_version: str = ""

    derived: ClassVar[tuple[str, ...]] = ("short_id", "time", "started_at_iso", "duration")

    @property
    def short_id(self) -> str:
        return short_id(self.id)

    @property
    def time(self) -> str:
        """`09:14:22`, the clock time it started."""
        return clock(self.started_at)

    @property
    def started_at_iso(self) -> str | None:
        return iso(self.started_at)

    @property
    def duration(self) -> str:
        """`32ms`, `1.25s`: how every renderer shows the duration."""
        return duration(self.duration_ms)


def outcome(execution: Execution) -> str:
    """`failed` (5xx or a failed job), `client_error` (4xx) or `ok`."""
    if execution.failed:
        return "failed"
    if execution.is_client_error:
        return "client_error"
    return "ok"


def target(execution: Execution) -> str:
    """`POST /create_user`, `JOB  send_onboarding_email`, `REPLAY  POST /stripe_webhook`."""
    if execution.kind == "job":
        return f"JOB  {execution.function}"
    if execution.kind == "replay":
        what = f"{execution.method} {execution.path}" if execution.method else execution.function
        return f"REPLAY  {what}"
    return f"{execution.method} {execution.path}"


def error_line(execution: Execution) -> ErrorLine | None:
    err = execution.error
    if err is None:
        return None
    return ErrorLine(err.type, err.message, err.location.label if err.location else None)


def summarize(execution: Execution) -> ExecutionSummary:
    return ExecutionSummary(
        id=execution.id,
        kind=execution.kind,
        function=execution.function,
        method=execution.method,
        path=execution.path,
        target=target(execution),
        status=execution.status,
        outcome=outcome(execution),
        duration_ms=execution.duration_ms,
        started_at=execution.started_at,
        error=error_line(execution),
        code_version=execution.code_version,
    )
