"""Rendering analysis reports in the terminal with rich, in the seed's layout.

Only layout and colour live here: every word a report says comes from `flux_lsp.analysis`.
User-controlled text is added as `rich.text.Text` pieces, never as markup, so a `[` in an
error message prints as it is. `--json` output is written by `render_json`, without rich.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.text import Text

from flux_lsp.analysis.values import clock, duration, moment, size
from flux_lsp.model import short_id

if TYPE_CHECKING:
    from flux_lsp.analysis.diff import DiffRow, TraceDiff
    from flux_lsp.analysis.history import StateHistory
    from flux_lsp.analysis.status import StatusReport
    from flux_lsp.analysis.tail import TailLine
    from flux_lsp.analysis.trace_report import LogLine, TraceNode, TraceReport
    from flux_lsp.analysis.why import WhyReport
    from flux_lsp.runtime.catalog import Catalog, FunctionInfo

INDENT = "  "
LABEL_WIDTH = 13
OUTCOME_STYLE = {"ok": "green", "client_error": "yellow", "failed": "bold red"}


def console() -> Console:
    return Console(file=sys.stdout, highlight=False, soft_wrap=True, emoji=False)


# -- tail ----------------------------------------------------------------------------------


def tail_text(line: TailLine) -> Text:
    e = line.execution
    style = OUTCOME_STYLE.get(e.outcome, "")
    text = Text(INDENT)
    text.append(e.target, style="bold")
    text.append("  ")
    text.append(e.status, style=style)
    text.append(f"  {duration(e.duration_ms)}  ")
    text.append(e.short_id, style="cyan")
    text.append(f"  {e.time}", style="dim")
    if line.replay_of is not None:
        text.append(f"  replay of {line.replay_of}", style="magenta")
    if e.error is not None:
        text.append(f"\n{INDENT}   {line.error_marker} Error: ", style=style)
        text.append(e.error.message)
    else:
        for change in line.changes:
            text.append(f"\n{INDENT}   {change}", style="dim")
    return text


def render_tail(out: Console, lines: list[TailLine]) -> None:
    for line in lines:
        out.print(tail_text(line))
        if line.execution.error is not None or line.changes:
            out.print()


# -- why -----------------------------------------------------------------------------------


def _section(out: Console, label: str, lines: list[Text | str], style: str = "bold") -> None:
    for index, line in enumerate(lines):
        head = Text(INDENT)
        head.append(f"{label:<{LABEL_WIDTH}}" if index == 0 else " " * LABEL_WIDTH, style=style)
        head.append(line if isinstance(line, Text) else Text(line))
        out.print(head)


def render_why(out: Console, report: WhyReport) -> None:
    """The report's sections, each label in the left column; the cause coloured by outcome."""
    cause_style = "bold red" if report.execution.outcome == "failed" else "bold yellow"
    if report.root_cause.rule == "ok":
        cause_style = "bold green"
    first_style = {"root_cause": cause_style, "location": "cyan"}
    for section in report.sections:
        first, *rest = section.lines
        _section(out, section.label, [Text(first, style=first_style.get(section.key, "")), *rest])


# -- trace ---------------------------------------------------------------------------------


def _header(out: Console, report: TraceReport) -> None:
    e = report.execution
    text = Text(INDENT)
    text.append(e.short_id, style="cyan")
    text.append(f"  {e.target}  ")
    text.append(e.status, style=OUTCOME_STYLE.get(e.outcome, ""))
    text.append(f"  {duration(e.duration_ms)}  {e.time}", style="dim")
    if report.trace_id:
        text.append(f"  trace {report.trace_id}", style="dim")
    out.print(text)
    out.print()


def _tree_rows(node: TraceNode, prefix: str, last: bool, root: bool) -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = []
    head = "" if root else prefix + ("└─ " if last else "├─ ")
    rows.append((head + node.label, node))
    child_prefix = "" if root else prefix + ("   " if last else "│  ")
    for index, child in enumerate(node.children):
        rows.extend(_tree_rows(child, child_prefix, index == len(node.children) - 1, False))
    return rows


def _log_lines(out: Console, logs: list[LogLine], indent: str) -> None:
    for log in logs:
        line = Text(indent)
        line.append(f"{log.at:>7}  ", style="dim")
        line.append(f"{log.source:<7} ", style="yellow" if log.entry.stream != "stdout" else "dim")
        line.append(log.entry.message)
        out.print(line, markup=False, highlight=False)


def render_logs(out: Console, report: TraceReport) -> None:
    """What the handler printed and logged, under a `Logs` heading (nothing when silent)."""
    if not report.logs and not report.logs_note:
        return
    out.print()
    out.print(Text(INDENT + "Logs", style="bold"))
    _log_lines(out, report.logs, INDENT + "  ")
    if report.logs_note:
        out.print(Text(INDENT + "  " + report.logs_note, style="dim"))


def render_trace(out: Console, report: TraceReport) -> None:
    _header(out, report)
    if report.tree is None:
        out.print(INDENT + "(no spans recorded)")
        render_logs(out, report)
        return
    rows = _tree_rows(report.tree, "", True, True)
    width = max(len(label) for label, _ in rows) + 2
    for label, node in rows:
        text = Text(INDENT + f"{label:<{width}}")
        text.append(f"{duration(report.row_ms(node)):>7}", style="dim")
        if node.result:
            style = "red" if node.status == "error" else ("dim" if node.status == "skipped" else "")
            text.append("   ")
            text.append(node.result, style=style)
        out.print(text)
    render_logs(out, report)


def render_debug(out: Console, report: TraceReport) -> None:
    _header(out, report)
    for step in report.steps:
        head = Text(INDENT + f"Step {step.index}/{step.total}  ", style="bold")
        if step.skipped:
            reason = step.skip_reason or "not run"
            head.append(f"(skipped — {reason})  {step.label}", style="dim")
            out.print(head)
            out.print()
            continue
        head.append(step.label, style="bold red" if step.status == "error" else "bold")
        out.print(head)
        for name, value, style in (
            ("Input", step.input, ""),
            ("Output", step.output, ""),
            ("Error", step.error, "red"),
            ("At", step.location, "cyan"),
        ):
            if value:
                line = Text(INDENT + f"  {name + ':':<9}")
                line.append(value, style=style)
                out.print(line)
        if step.calls:
            out.print(Text(INDENT + "  Calls:"))
            width = max(len(c.label) for c in step.calls) + 2
            for call in step.calls:
                line = Text(INDENT + f"    {call.label:<{width}}")
                line.append(f"{duration(call.duration_ms):>7}", style="dim")
                if call.result:
                    line.append("   ")
                    line.append(call.result, style="red" if call.status == "error" else "")
                out.print(line)
        if step.logs:
            out.print(Text(INDENT + "  Logs:"))
            _log_lines(out, step.logs, INDENT + "    ")
        out.print(Text(INDENT + f"  {'Time:':<9}{duration(step.duration_ms)}"))
        out.print()


# -- diff ----------------------------------------------------------------------------------

DIFF_MARK = {"same": " ", "changed": "~", "missing": "-", "extra": "+"}
DIFF_STYLE = {"same": "", "changed": "yellow", "missing": "red", "extra": "green"}


def _diff_row(row: DiffRow, width: int) -> Text:
    mark = DIFF_MARK.get(row.change, "?")
    label = "   " * row.depth + row.label
    text = Text(INDENT + f"{mark} {label:<{width}}", style=DIFF_STYLE.get(row.change, ""))
    a = duration(row.a.duration_ms) if row.a else "—"
    b = duration(row.b.duration_ms) if row.b else "—"
    text.append(f"{a:>8} → {b:<8}", style="dim")
    if row.change == "missing":
        text.append("  only in A", style="red")
    elif row.change == "extra":
        text.append("  only in B", style="green")
    if row.notes:
        text.append("  " + "; ".join(row.notes))
    return text


def render_diff(out: Console, diff: TraceDiff) -> None:
    for name, side in (("A", diff.a), ("B", diff.b)):
        text = Text(INDENT + f"{name}  ", style="bold")
        text.append(side.short_id, style="cyan")
        text.append(f"  {side.target}  {side.status}  {duration(side.duration_ms)}")
        if side.error:
            text.append(f"  {side.error.message}", style="red")
        out.print(text)
    out.print()
    if diff.identical:
        out.print(INDENT + "The two traces match: same spans, statuses, outputs and data changes.")
        return
    if diff.diverges_at:
        out.print(Text(INDENT + "Diverges at ") + Text(diff.diverges_at, style="bold yellow"))
    for note in diff.notes:
        out.print(INDENT + "· " + note)
    out.print()
    if diff.rows:
        width = max(len("   " * r.depth + r.label) for r in diff.rows) + 2
        for row in diff.rows:
            out.print(_diff_row(row, width))
    changes = diff.data_changes
    if changes.a != changes.b:
        out.print()
        _section(out, "DATA A", list(changes.a) or ["(none)"])
        _section(out, "DATA B", list(changes.b) or ["(none)"])


# -- state history -------------------------------------------------------------------------


def render_history(out: Console, history: StateHistory) -> None:
    out.print(Text(INDENT + history.heading, style="bold"))
    if history.pruned:
        out.print(Text(INDENT + history.pruned, style="yellow"))
    if history.empty:
        out.print(Text(INDENT + history.empty, style="yellow"))
        for hint in history.hints:
            out.print(INDENT + hint)
        return
    for entry in history.entries:
        text = Text(INDENT + f"{moment(entry.at)}  ")
        style = {"INSERT": "green", "DELETE": "red"}.get(entry.op, "yellow")
        text.append(f"{entry.op:<6}", style=style)
        if history.pk is None and entry.pk is not None:
            text.append(f"  {history.pk_column}={entry.pk}")
        text.append(f"  {entry.text}  ")
        text.append(short_id(entry.execution_id), style="cyan")
        out.print(text)


# -- status --------------------------------------------------------------------------------


def _stamp(timestamp: float | None) -> str:
    return "—" if timestamp is None else f"{moment(timestamp)}:{clock(timestamp)[-2:]}"


def _replays_note(replays: int) -> str:
    return f"  (and {replays:,} replay{'' if replays == 1 else 's'})" if replays else ""


def render_status(out: Console, report: StatusReport) -> None:
    rows: list[tuple[str, Text | str]] = [
        (
            "Recorder",
            f"{report.location}  ({size(report.size_bytes)}, schema v{report.schema_version})",
        ),
        (
            "Executions",
            ("≈ " if report.executions_estimated else "")
            + f"{report.executions:,}"
            + _replays_note(report.replays)
            + ("  (estimated from PostgreSQL's statistics)" if report.executions_estimated else ""),
        ),
        ("Oldest", _stamp(report.oldest)),
        ("Newest", _stamp(report.newest)),
        (
            "Dropped",
            Text(
                f"{report.dropped:,}"
                + (f"  ({report.dropped_note})" if report.dropped_note else ""),
                style="red" if report.dropped else "green",
            ),
        ),
        ("Problem", Text(report.problem or "none", style="red" if report.problem else "green")),
        ("Retention", report.retention or "not applied yet"),
    ]
    if report.pruned_before is not None:
        rows.append(("Pruned", f"recordings before {_stamp(report.pruned_before)}"))
    if report.export is not None:
        export = report.export
        dropped = int(export.get("dropped") or 0)
        line = f"{int(export.get('exported') or 0):,} spans to {export.get('endpoint')}"
        line += f" · {dropped:,} dropped" if dropped else ""
        line += f" · {export['problem']}" if export.get("problem") else ""
        rows.append(("Export", Text(line, style="red" if dropped else "green")))
    if report.database is not None:
        rows.append(("Database", report.database))
    for label, value in rows:
        _section(out, label, [value])


# -- functions -----------------------------------------------------------------------------


def render_functions(out: Console, catalog: Catalog) -> None:
    """One row per function: name, route or job trigger, file:line, and `ok` or why it fails;
    then the catalog's notes."""
    rows = catalog.functions
    if not rows:
        out.print(f"{INDENT}No functions yet: add functions/<name>.py with an async handler.")
    name_width = max((len(info.name) for info in rows), default=0)
    reach_width = max((len(_reached_by(info)) for info in rows), default=0)
    place_width = max((len(_place(info)) for info in rows), default=0)
    for info in rows:
        row = Text(INDENT)
        row.append(f"{info.name:<{name_width}}", style="bold")
        row.append(f"  {_reached_by(info):<{reach_width}}  ")
        row.append(_place(info).ljust(place_width) + "  ", style="cyan")
        if info.error is None:
            row.append("ok", style="green")
        elif info.error.file == info.file:
            row.append(f"does not load: {info.error.message}", style="bold red")
        else:
            row.append(f"does not load: {info.error}", style="bold red")
        out.print(row)
    for note in catalog.notes:
        out.print(Text(f"{INDENT}note: {note}", style="yellow"))


def _place(info: FunctionInfo) -> str:
    """`functions/x.py:12`: the handler's line, or the failing line when it is in the file."""
    error = info.error
    line = error.line if error is not None and error.file == info.file else info.line
    return f"{info.file}:{line}"


def _reached_by(info: FunctionInfo) -> str:
    """`HTTP /create_note`, `job  ctx.queue.enqueue("count_words", …)`, or `?` (broken)."""
    if info.kind == "job":
        return f'job  ctx.queue.enqueue("{info.name}", …)'
    if info.kind == "http":
        return f"HTTP {info.route}"
    return "?"
