"""`StateHistory`: the mutation log of one row, or of one execution, oldest first.

`flux state history users --id u_42` lists every insert, update and delete of that row;
`--filter job=<id>` (or `req=<id>`) lists what one execution wrote to the table. An empty
result says so in words, and when the execution did call a service that should have written
to the table (`email.send` for `email_sends`) the report points at that call's result.

JSON shape (`encode.to_json(history)`):

    {"table": "users", "pk": "u_42" | null, "pk_column": "id",
     "execution": {"id": "...", "short_id": "req:c4d5e6f7", "function": "..."} | null,
     "heading": "users id=u_42  (1 mutation)",
     "entries": [{"at": 1773130462.0, "at_iso": "...", "time": "2026-03-10 09:14",
                  "op": "INSERT", "pk": "u_42", "rows_affected": 1,
                  "changes": {"email": [null, "a@b.com"], ...},
                  "text": "email=a@b.com, name=Alice",
                  "execution_id": "...", "short_id": "req:4f9a3b2c"}],
     "empty": "No rows — ..." | null,
     "hints": ["email.send returned → { status: 'queued', provider: 'console' }", ...],
     "pruned": "recordings before 2026-11-14 10:00 were pruned" | null}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from flux_lsp.analysis.tail import pk_column
from flux_lsp.analysis.values import compact, iso, moment, plain
from flux_lsp.model import JSON, Execution, Mutation, short_id
from flux_lsp.recorder.query import MutationQuery, QueryError, split_filter
from flux_lsp.recorder.store import pruned_note

if TYPE_CHECKING:
    from flux_lsp.recorder.store import Store

HISTORY_FILTER_KEYS = ("job", "req")
MAX_ENTRIES = 1000
MAX_VALUE = 40


@dataclass(slots=True)
class HistoryEntry:
    at: float
    op: str
    pk: str | None
    rows_affected: int
    changes: dict[str, tuple[JSON, JSON]]
    text: str
    execution_id: str

    derived: ClassVar[tuple[str, ...]] = ("at_iso", "time", "short_id")

    @property
    def at_iso(self) -> str | None:
        return iso(self.at)

    @property
    def time(self) -> str:
        return moment(self.at)

    @property
    def short_id(self) -> str:
        return short_id(self.execution_id)


@dataclass(slots=True)
class ExecutionRef:
    id: str
    function: str
    kind: str

    derived: ClassVar[tuple[str, ...]] = ("short_id",)

    @property
    def short_id(self) -> str:
        return short_id(self.id)


@dataclass(slots=True)
class StateHistory:
    table: str
    pk: str | None
    pk_column: str
    execution: ExecutionRef | None
    entries: list[HistoryEntry] = field(default_factory=list)
    hints: list[str] = field(default_factory=list)
    pruned: str | None = None
    """`recordings before … were pruned` when retention removed older recordings."""

    derived: ClassVar[tuple[str, ...]] = ("heading", "empty")

    @property
    def heading(self) -> str:
        n = len(self.entries)
        count = f"({n} mutation{'' if n == 1 else 's'})"
        if self.pk is not None:
            return f"{self.table} {self.pk_column}={self.pk}  {count}"
        if self.execution is not None:
            return f"{self.table} by {short_id(self.execution.id)}  {count}"
        return f"{self.table}  {count}"

    @property
    def empty(self) -> str | None:
        if self.entries:
            return None
        if self.execution is not None:
            who = f"{short_id(self.execution.id)} ({self.execution.function})"
            return f"No rows — {who} wrote nothing to {self.table}"
        if self.pk is not None:
            return f"No rows — no mutation of {self.table} {self.pk_column}={self.pk} is recorded"
        return f"No rows — no mutation of {self.table} is recorded"


def check_table(name: str) -> str:
    """A table name as a user wrote it (`users`), or a QueryError for anything else."""
    if not name or not name.replace("_", "").isalnum():
        raise QueryError(f"bad table name {name!r}")
    return name


def parse_history_filter(text: str) -> str:
    """`job=c4d5e6f7` or `req=7c8d9e0f` → the execution id to look up."""
    key, value = split_filter(text, "job=<id> or req=<id>")
    if key not in HISTORY_FILTER_KEYS:
        raise QueryError(f"unknown filter key {key!r}: use job=<id> or req=<id>")
    return value


def _changes(m: Mutation) -> dict[str, tuple[JSON, JSON]]:
    before, after = m.before or {}, m.after or {}
    if m.op == "delete":
        return {k: (v, None) for k, v in before.items()}
    return {k: (before.get(k), v) for k, v in after.items() if before.get(k) != v}


def _short(value: JSON) -> str:
    text = plain(value)
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 1] + "…"


def entry_text(m: Mutation, pk_col: str) -> str:
    """`email=a@b.com, name=Alice` (insert), `status: pending → active` (update)."""
    changes = _changes(m)
    if m.op == "insert":
        shown = {
            k: new
            for k, (_, new) in changes.items()
            if k not in (pk_col, "execution_id") and new is not None and not k.endswith("_at")
        }
        return ", ".join(f"{k}={_short(v)}" for k, v in shown.items()) or "(row created)"
    if m.op == "delete":
        return "row deleted" if m.rows_affected else "0 rows affected"
    if m.op == "update":
        if not m.rows_affected:
            where = ", ".join(f"{k}={plain(v)}" for k, v in (m.where or {}).items())
            return f"0 rows affected (no row where {where})" if where else "0 rows affected"
        return ", ".join(f"{k}: {_short(old)} → {_short(new)}" for k, (old, new) in changes.items())
    return f"{m.rows_affected} rows affected"


def history_entries(mutations: list[Mutation]) -> list[HistoryEntry]:
    entries = []
    for m in sorted(mutations, key=lambda m: (m.at, m.execution_id, m.seq)):
        entries.append(
            HistoryEntry(
                at=m.at,
                op=m.op.upper(),
                pk=m.pk,
                rows_affected=m.rows_affected,
                changes=_changes(m),
                text=entry_text(m, pk_column(m)),
                execution_id=m.execution_id,
            )
        )
    return entries


def service_hints(table: str, execution: Execution) -> list[str]:
    """For an empty result: the execution's calls that were meant to write `table`."""
    stem = table.split("_", 1)[0].rstrip("s")
    hints = []
    for s in execution.spans:
        if not s.name.startswith(stem + "."):
            continue
        if s.error:
            hints.append(f"{s.name} failed: {s.error}")
        else:
            result = compact(s.output, 80) if s.output is not None else "nothing"
            hints.append(f"{s.name} returned → {result}, yet no {table} row was written")
            hints.append("→ Check the provider's logs with the message id from the trace")
    return hints


def state_history(
    table: str,
    mutations: list[Mutation],
    *,
    pk: str | None = None,
    execution: Execution | None = None,
) -> StateHistory:
    """The report over mutations already fetched for `table` (pure)."""
    entries = history_entries(mutations)
    column = next((pk_column(m) for m in mutations if m.pk is not None), "id")
    report = StateHistory(
        table=table,
        pk=pk,
        pk_column=column,
        execution=(
            ExecutionRef(execution.id, execution.function, execution.kind) if execution else None
        ),
        entries=entries,
    )
    if not entries and execution is not None:
        report.hints = service_hints(table, execution)
    return report


async def load_state_history(
    store: Store, table: str, *, pk: str | None = None, execution_ident: str | None = None
) -> StateHistory:
    """Fetch the mutations (resolving `execution_ident` as any id form) and build the report."""
    execution = await store.get(execution_ident) if execution_ident is not None else None
    mutations = await store.mutations(
        MutationQuery(table, pk, execution.id if execution else None, limit=MAX_ENTRIES)
    )
    report = state_history(table, mutations, pk=pk, execution=execution)
    if execution is None:  # one execution's writes are whole while it is kept
        report.pruned = pruned_note((await store.stats()).pruned_before)
    return report
