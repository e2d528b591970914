"""`TraceDiff`: two executions' span trees aligned, and where they diverge.

Children are aligned by label (`db.query(users)`, `email.send`) in order, so a span present in
one run only shows as `missing` (only in A) or `extra` (only in B). Aligned spans are `changed`
when their status, output or rows affected differ; duration changes are reported beside them.
The first row that is not `same` is where the runs diverge.

JSON shape (`encode.to_json(diff)`):

    {"a": SIDE, "b": SIDE,
     "diverges_at": "db.update(subscriptions)" | null,
     "identical": false,
     "notes": ["status 200 → 500", "error: Row not found: ...", "duration 44ms → 32ms"],
     "data_changes": {"a": ["subscriptions  UPDATE  1 row affected"], "b": [...]},
     "rows": [{"depth": 1, "label": "stripe_webhook", "change": "same" | "changed" |
               "missing" | "extra",
               "a": {"status": "ok", "duration_ms": 40.0, "result": "→ ..."} | null,
               "b": {...} | null,
               "duration_delta_ms": -8.0 | null,
               "notes": ["status ok → error", "rows affected 1 → 0"]}]}

    SIDE = the execution summary (see `execution_summary.py`)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import ClassVar

from flux_lsp.analysis.execution_summary import ExecutionSummary, summarize
from flux_lsp.analysis.trace_report import TraceNode, build_tree
from flux_lsp.analysis.values import compact, duration
from flux_lsp.analysis.why import data_changes
from flux_lsp.model import JSON, Execution

NOTABLE_MS = 5.0
NOTABLE_RATIO = 0.5


@dataclass(slots=True)
class DiffSide:
    status: str
    duration_ms: float
    result: str


@dataclass(slots=True)
class DiffRow:
    depth: int
    label: str
    change: str
    a: DiffSide | None
    b: DiffSide | None
    notes: list[str] = field(default_factory=list)

    derived: ClassVar[tuple[str, ...]] = ("duration_delta_ms",)

    @property
    def duration_delta_ms(self) -> float | None:
        if self.a is None or self.b is None:
            return None
        return self.b.duration_ms - self.a.duration_ms


@dataclass(slots=True)
class DataChangesAB:
    """Each side's data changes (`subscriptions  UPDATE  1 row affected`)."""

    a: list[str]
    b: list[str]


@dataclass(slots=True)
class TraceDiff:
    a: ExecutionSummary
    b: ExecutionSummary
    rows: list[DiffRow]
    notes: list[str]
    data_changes: DataChangesAB

    derived: ClassVar[tuple[str, ...]] = ("diverges_at", "identical")

    @property
    def diverges_at(self) -> str | None:
        """The first differing span none of whose descendants differ: where the runs part."""
        for index, row in enumerate(self.rows):
            if row.change == "same":
                continue
            below = []
            for later in self.rows[index + 1 :]:
                if later.depth <= row.depth:
                    break
                below.append(later)
            if row.change != "changed" or all(r.change == "same" for r in below):
                return row.label
        return None

    @property
    def identical(self) -> bool:
        return self.diverges_at is None and not self.notes


def _side(node: TraceNode) -> DiffSide:
    return DiffSide(node.status, node.duration_ms, node.result)


def _rows_affected(node: TraceNode) -> JSON:
    value = node.attributes.get("db.response.rows_affected")
    if value is None and isinstance(node.output, dict):
        value = node.output.get("rows_affected")
    return value


def _duration_note(a_ms: float, b_ms: float) -> str | None:
    delta = b_ms - a_ms
    if abs(delta) < NOTABLE_MS or abs(delta) < NOTABLE_RATIO * max(a_ms, 0.001):
        return None
    return f"duration {duration(a_ms)} → {duration(b_ms)}"


def _compare(a: TraceNode, b: TraceNode) -> list[str]:
    notes = []
    if a.status != b.status:
        notes.append(f"status {a.status} → {b.status}")
    if a.error != b.error and b.error:
        notes.append(f"error: {b.error}")
    rows_a, rows_b = _rows_affected(a), _rows_affected(b)
    if rows_a != rows_b and (rows_a is not None or rows_b is not None):
        notes.append(f"rows affected {rows_a} → {rows_b}")
    elif a.name != "response" and a.output != b.output and not a.error and not b.error:
        notes.append(f"output {compact(a.output, 50)} → {compact(b.output, 50)}")
    elif a.name == "response" and a.result != b.result:
        notes.append(f"{a.result} → {b.result}")
    return notes


def _only(node: TraceNode, change: str, depth: int) -> list[DiffRow]:
    rows = []
    for n in node.walk():
        side = _side(n)
        rows.append(
            DiffRow(
                depth=depth + (n.depth - node.depth),
                label=n.label,
                change=change,
                a=side if change == "missing" else None,
                b=side if change == "extra" else None,
            )
        )
    return rows


def align(a: TraceNode, b: TraceNode, depth: int = 0) -> list[DiffRow]:
    """Rows for two aligned nodes and, recursively, their children."""
    notes = _compare(a, b)
    timing = _duration_note(a.duration_ms, b.duration_ms)
    row = DiffRow(
        depth=depth,
        label=b.label if a.label != b.label else a.label,
        change="changed" if notes else "same",
        a=_side(a),
        b=_side(b),
        notes=[*notes, *([timing] if timing else [])],
    )
    rows: list[DiffRow] = []
    labels_a = [c.label for c in a.children]
    labels_b = [c.label for c in b.children]
    matcher = SequenceMatcher(a=labels_a, b=labels_b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            for ca, cb in zip(a.children[i1:i2], b.children[j1:j2], strict=True):
                rows.extend(align(ca, cb, depth + 1))
            continue
        for ca in a.children[i1:i2]:
            rows.extend(_only(ca, "missing", depth + 1))
        for cb in b.children[j1:j2]:
            rows.extend(_only(cb, "extra", depth + 1))
    inherited = {n for r in rows for n in r.notes if n.startswith("error: ")}
    row.notes = [n for n in row.notes if n not in inherited]
    return [row, *rows]


def trace_diff(a: Execution, b: Execution) -> TraceDiff:
    """Where execution `b` differs from execution `a`."""
    tree_a, tree_b = build_tree(a.spans), build_tree(b.spans)
    rows: list[DiffRow] = []
    if tree_a is not None and tree_b is not None:
        rows = align(tree_a, tree_b)
    elif tree_a is not None:
        rows = _only(tree_a, "missing", 0)
    elif tree_b is not None:
        rows = _only(tree_b, "extra", 0)
    notes: list[str] = []
    if a.function != b.function:
        notes.append(f"function {a.function} → {b.function}")
    if a.status != b.status:
        notes.append(f"status {a.status} → {b.status}")
    err_a = a.error.message if a.error else None
    err_b = b.error.message if b.error else None
    if err_a != err_b:
        notes.append(f"error: {err_b}" if err_b else f"error gone (was: {err_a})")
    if a.code_version and b.code_version and a.code_version != b.code_version:
        notes.append(f"code version {a.code_version[:8]} → {b.code_version[:8]}")
    changes_a = [d.text for d in data_changes(a.mutations)]
    changes_b = [d.text for d in data_changes(b.mutations)]
    if changes_a != changes_b:
        notes.append("data changes differ")
    timing = _duration_note(a.duration_ms, b.duration_ms)
    if timing:
        notes.append(timing)
    return TraceDiff(
        a=summarize(a),
        b=summarize(b),
        rows=rows,
        notes=notes,
        data_changes=DataChangesAB(changes_a, changes_b),
    )
