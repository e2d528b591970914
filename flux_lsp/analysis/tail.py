"""`TailLine`: one execution as `flux tail` lists it, with its error or its data changes.

JSON shape (`TailLine.to_dict()`), one object per execution:

    {"id": "7c8d9e0f1a2b3c4d", "short_id": "req:7c8d9e0f", "kind": "http",
     "function": "stripe_webhook", "method": "POST", "path": "/stripe_webhook",
     "target": "POST /stripe_webhook", "status": "500", "outcome": "failed",
     "duration_ms": 32.1, "started_at": 1773130462.0, "time": "09:14:22",
     "started_at_iso": "2026-03-10T09:14:22.000+01:00",
     "error": {"type": "RowNotFound", "message": "Row not found: ..."} | null,
     "changes": ["users.id=u_42  insert", ...], "code_version": "2514c17b8036",
     "replay_of": "req:1a2b3c4d" | null}

`outcome` is `ok`, `client_error` (4xx) or `failed` (5xx, failed jobs). `target` is what the
seed prints first: `POST /create_user`, or `JOB  send_onboarding_email` for queue jobs; a
replay is marked as one (`REPLAY  POST /stripe_webhook`, `replay_of` the execution it re-ran).
`code_version` is the hash of the deployed functions the execution ran (see `flux deploy`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flux_lsp.analysis.values import clock, iso, plain
from flux_lsp.model import JSON, Execution, Mutation, short_id

MAX_CHANGES = 3


@dataclass(slots=True)
class TailLine:
    id: str
    short_id: str
    kind: str
    function: str
    method: str
    path: str
    target: str
    status: str
    outcome: str
    duration_ms: float
    started_at: float
    error_type: str | None = None
    error_message: str | None = None
    changes: list[str] = field(default_factory=list)
    code_version: str = ""
    replay_of: str | None = None

    @property
    def time(self) -> str:
        return clock(self.started_at)

    def to_dict(self) -> dict[str, JSON]:
        return {
            "id": self.id,
            "short_id": self.short_id,
            "kind": self.kind,
            "function": self.function,
            "method": self.method,
            "path": self.path,
            "target": self.target,
            "status": self.status,
            "outcome": self.outcome,
            "duration_ms": round(self.duration_ms, 3),
            "started_at": self.started_at,
            "time": self.time,
            "started_at_iso": iso(self.started_at),
            "error": (
                {"type": self.error_type, "message": self.error_message}
                if self.error_message is not None
                else None
            ),
            "changes": list(self.changes),
            "code_version": self.code_version,
            "replay_of": self.replay_of,
        }


def outcome(execution: Execution) -> str:
    """`failed` (5xx or a failed job), `client_error` (4xx) or `ok`."""
    if execution.failed:
        return "failed"
    if execution.is_client_error:
        return "client_error"
    return "ok"


def target(execution: Execution) -> str:
    if execution.kind == "job":
        return f"JOB  {execution.function}"
    if execution.kind == "replay":
        what = f"{execution.method} {execution.path}" if execution.method else execution.function
        return f"REPLAY  {what}"
    return f"{execution.method} {execution.path}"


def pk_column(m: Mutation) -> str:
    """The name of the primary-key column, found as the row field holding the key's value."""
    row = m.after or m.before or {}
    for key, value in row.items():
        if m.pk is not None and str(value) == m.pk:
            return key
    return "id"


def mutation_summary(m: Mutation) -> str:
    """`users.id=u_42  insert`, or `subscriptions  update  0 rows (customer_id=cus_ABC)`."""
    if m.pk is not None:
        return f"{m.table}.{pk_column(m)}={m.pk}  {m.op}"
    where = ", ".join(f"{k}={plain(v)}" for k, v in (m.where or {}).items())
    rows = f"{m.rows_affected} row" + ("" if m.rows_affected == 1 else "s")
    return f"{m.table}  {m.op}  {rows}" + (f" ({where})" if where else "")


def tail_line(execution: Execution) -> TailLine:
    changes = [mutation_summary(m) for m in execution.mutations[:MAX_CHANGES]]
    if len(execution.mutations) > MAX_CHANGES:
        changes.append(f"… {len(execution.mutations) - MAX_CHANGES} more changes")
    err = execution.error
    return TailLine(
        id=execution.id,
        short_id=short_id(execution.id),
        kind=execution.kind,
        function=execution.function,
        method=execution.method,
        path=execution.path,
        target=target(execution),
        status=execution.status,
        outcome=outcome(execution),
        duration_ms=execution.duration_ms,
        started_at=execution.started_at,
        error_type=err.type if err else None,
        error_message=err.message if err else None,
        changes=changes,
        code_version=execution.code_version,
        replay_of=(
            short_id(execution.parent_id)
            if execution.kind == "replay" and execution.parent_id
            else None
        ),
    )


def tail_lines(executions: list[Execution]) -> list[TailLine]:
    """Lines oldest first (the store returns newest first), as a log reads."""
    ordered = sorted(executions, key=lambda e: (e.started_at, e.id))
    return [tail_line(e) for e in ordered]
