"""`TailLine`: one execution as `flux tail` lists it, with its error or its data changes.

JSON shape, one object per execution: the execution summary (see `execution_summary.py`) and

    {..., "changes": ["users.id=u_42  insert", ...], "replay_of": "req:1a2b3c4d" | null,
     "error_marker": "└─" | "←" | null}

`replay_of` is the execution a replay re-ran (`req:1a2b3c4d`), null for the others.
`TailReport` is what the editor's `flux.tail` answers: the lines and, when it follows, the
cursor that asks for what is recorded next (`{"lines": [...], "cursor": "9f3c…" | null}`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from flux_lsp.analysis.execution_summary import ExecutionSummary, summarize
from flux_lsp.analysis.values import plain
from flux_lsp.encode import INLINE
from flux_lsp.model import Execution, Mutation, short_id

MAX_CHANGES = 3


@dataclass(slots=True)
class TailLine:
    execution: ExecutionSummary = field(metadata=INLINE)
    changes: list[str] = field(default_factory=list)
    replay_of: str | None = None

    derived: ClassVar[tuple[str, ...]] = ("error_marker",)

    @property
    def error_marker(self) -> str | None:
        """What leads the error's line: `└─` for a failure, `←` for a client error (4xx);
        None without an error."""
        if self.execution.error is None:
            return None
        return "└─" if self.execution.outcome == "failed" else "←"


@dataclass(slots=True)
class TailReport:
    """Recent executions, oldest first, and the cursor that follows them."""

    lines: list[TailLine] = field(default_factory=list)
    cursor: str | None = None
    """Given when asked to follow: pass it back for what is recorded since."""


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
    replay_of = execution.parent_id if execution.kind == "replay" else None
    return TailLine(summarize(execution), changes, short_id(replay_of) if replay_of else None)


def tail_lines(executions: list[Execution]) -> list[TailLine]:
    """Lines oldest first (the store returns newest first), as a log reads."""
    ordered = sorted(executions, key=lambda e: (e.started_at, e.id))
    return [tail_line(e) for e in ordered]
