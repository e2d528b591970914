"""Reports as Markdown for hovers and command results (the editor's renderer).

Each function takes a report built by `analysis/` (or `replay/`) and lays it out; none of them
decides anything about the recording: that is the report's job.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flux_lsp.analysis.call_site_summary import CallSiteSummary
from flux_lsp.analysis.diff import TraceDiff
from flux_lsp.analysis.stats import RunStats
from flux_lsp.analysis.tail import TailLine
from flux_lsp.analysis.trace_report import TraceNode, TraceReport
from flux_lsp.analysis.values import clock, duration
from flux_lsp.analysis.why import WhyReport
from flux_lsp.model import Execution, short_id
from flux_lsp.replay.report import ReplayReport


def code(text: object) -> str:
    """Inline code that survives backticks in the text."""
    value = str(text).replace("\n", " ")
    fence = "``" if "`" in value else "`"
    pad = " " if fence == "``" else ""
    return f"{fence}{pad}{value}{pad}{fence}"


def _escape(text: str) -> str:
    for ch in "\\`*_[]<>|#":
        text = text.replace(ch, "\\" + ch)
    return text


def _section(
    lines: list[str], heading: str, items: Sequence[str], *, keep_empty: bool = False
) -> None:
    """A heading and its bullet list after a blank line; nothing for an empty list unless
    `keep_empty` (a heading that says something by itself)."""
    if not items and not keep_empty:
        return
    lines.extend(["", heading, ""])
    lines.extend(f"- {item}" for item in items)


def why(report: WhyReport) -> str:
    """The report's sections (ROOT CAUSE, LOCATION, INPUT, DATA CHANGES, SUGGESTION), as the
    CLI and the webview word them, then the id."""
    e = report.execution
    lines = [f"**Flux: why {e.short_id}** — {e.target} → {e.status}"]
    for section in report.sections:
        text = "  \n".join(_escape(line) for line in section.lines)
        lines.extend(["", f"**{section.label}** {text}"])
    lines.extend(["", f"*latest {e.short_id} at {e.time}*"])
    return "\n".join(lines)


def _tree(node: TraceNode, out: list[str]) -> None:
    indent = "  " * node.depth
    mark = {"error": " ✗", "skipped": " (skipped)"}.get(node.status, "")
    result = f"  {node.result}" if node.result else ""
    out.append(f"{indent}{node.label}{mark}  {duration(node.duration_ms)}{result}")
    for child in node.children:
        _tree(child, out)


def trace(report: TraceReport) -> str:
    """The span tree as a code block, then the error."""
    e = report.execution
    lines = [
        f"**Flux: trace {e.short_id}** — {e.target} → {e.status} in {duration(e.duration_ms)}",
        "",
    ]
    if report.tree is not None:
        tree: list[str] = []
        _tree(report.tree, tree)
        lines.append("```text")
        lines.extend(tree)
        lines.append("```")
    if e.error is not None:
        where = f" at {code(e.error.location)}" if e.error.location else ""
        lines.append(f"**{e.error.type}**: {_escape(e.error.message)}{where}")
    if report.logs or report.logs_note:
        lines.extend(["", "**Logs**", "```text"])
        for log in report.logs:
            lines.append(f"{log.at:>7}  {log.source:<7} {log.entry.message}")
        if report.logs_note:
            lines.append(report.logs_note)
        lines.append("```")
    return "\n".join(lines)


def trace_diff(diff: TraceDiff) -> str:
    lines = [
        f"**Flux: trace diff** {diff.a.short_id} → {diff.b.short_id}",
        "",
    ]
    if diff.identical:
        lines.append("The two runs took the same path.")
    else:
        if diff.diverges_at:
            lines.append(f"Diverges at {code(diff.diverges_at)}")
            lines.append("")
        for note in diff.notes:
            lines.append(f"- {_escape(note)}")
    lines.append("")
    lines.append("| step | change | A | B |")
    lines.append("|---|---|---|---|")
    for row in diff.rows:
        a = f"{row.a.status} {duration(row.a.duration_ms)}" if row.a else ""
        b = f"{row.b.status} {duration(row.b.duration_ms)}" if row.b else ""
        label = "&nbsp;" * 2 * row.depth + _escape(row.label)
        lines.append(f"| {label} | {row.change} | {a} | {b} |")
    return "\n".join(lines)


def tail(lines_: Sequence[TailLine], title: str = "Flux: recent executions") -> str:
    lines = [f"**{title}**", ""]
    if not lines_:
        lines.append("No executions recorded in the window.")
        return "\n".join(lines)
    lines.append("| time | request | status | duration | id |")
    lines.append("|---|---|---|---|---|")
    for t in (line.execution for line in lines_):
        lines.append(
            f"| {t.time} | {_escape(t.target)} | {t.status} | {duration(t.duration_ms)} "
            f"| {code(t.short_id)} |"
        )
        if t.error is not None:
            lines.append(f"| | ↳ {_escape(t.error.message)} | | | |")
    return "\n".join(lines)


def _percentiles(*values_ms: float | None) -> list[str]:
    """Each duration as the hover shows it, `–` where there were no runs to measure."""
    return [duration(ms) if ms is not None else "–" for ms in values_ms]


def run_stats(function: str, stats: RunStats, recent: Sequence[Execution], window: str) -> str:
    """The handler hover: counts, p50/p95 and the most recent executions."""
    p50, p95 = _percentiles(stats.p50_ms, stats.p95_ms)
    lines = [
        f"**Flux: {function}** — {stats.runs} runs · {stats.failed} failed · "
        f"p50 {p50} · p95 {p95} (last {window})",
        "",
    ]
    if not recent:
        lines.append("No executions recorded in the window.")
        return "\n".join(lines)
    lines.append("| time | status | duration | id |")
    lines.append("|---|---|---|---|")
    for e in recent:
        lines.append(
            f"| {clock(e.started_at)} | {e.status} | {duration(e.duration_ms)} "
            f"| {code(short_id(e.id))} |"
        )
    return "\n".join(lines)


def call_site(summary: CallSiteSummary, label: str) -> str:
    """The ctx call hover: the recent results recorded at that line."""
    if not summary.calls:
        return f"**Flux: {code(label)}** — no calls recorded here in the window."
    p50, p95 = _percentiles(summary.p50_ms, summary.p95_ms)
    lines = [
        f"**Flux: {code(label)}** — {len(summary.calls)} recent calls · "
        f"{summary.errors} failed · p50 {p50} · p95 {p95}",
        "",
        "| time | status | result | duration | id |",
        "|---|---|---|---|---|",
    ]
    for c in summary.calls:
        lines.append(
            f"| {clock(c.started_at)} | {c.status} | {_escape(c.result)} "
            f"| {duration(c.duration_ms)} | {code(c.short_id)} |"
        )
    return "\n".join(lines)


def replay(report: ReplayReport) -> str:
    """The replay verdict: headline, side effects, one line per outcome, counts, verdict."""
    if report.empty:
        return f"**Flux: replay** — {_escape(report.empty_message)}"
    hooks = report.webhooks_only
    lines = [
        f"**Flux: {_escape(report.headline())}**",
        "",
        f"Side-effects: {' · '.join(report.side_effects)}",
        "",
    ]
    for o in report.outcomes:
        mark = "✔" if o.passed else "✗"
        status = o.status or "–"
        took = duration(o.duration_ms) if o.duration_ms is not None else ""
        was = f"  ← was {o.was_status}" if o.changed else ""
        lines.append(
            f"- {mark} {code(o.short_id)} {_escape(o.line_label(hooks))} {status} {took}{was}"
        )
        if o.detail:
            lines.append(f"  - {_escape(o.detail)}")
    lines.append("")
    lines.append(f"{report.summary_line}  **{report.verdict}**")
    return "\n".join(lines)


def debug_endpoint(endpoint: dict[str, Any]) -> str:
    """Where a debug session listens, for clients that attach a debugger by hand."""
    stop = endpoint.get("stop_at")
    where = ""
    if isinstance(stop, dict):
        where = ", stopping at " + code(f"{stop.get('file')}:{stop.get('line')}")
    address = code(f"{endpoint.get('host')}:{endpoint.get('port')}")
    label = _escape(str(endpoint.get("label")))
    return (
        f"**Flux: debugging {code(endpoint.get('short_id'))}** {label}{where} — attach a "
        f"Debug Adapter Protocol client to {address} (pid {endpoint.get('pid')})"
    )
