"""`TraceReport`: an execution's span tree with durations and results, and its debug steps.

The recorded spans are flat with parent ids; the report nests them the way the seed draws them:
the root span (`gateway`, `queue.dispatch`) holds the function, the function holds its calls,
and the `response` step is the function's last child. `steps` is the same execution walked
stage by stage for `flux trace debug` (`Step 1/3 gateway`, Input, Output, Error, Time), where
the stages after a failure are marked skipped. What the handler printed and logged is in
`logs` (and on the function's step), with `logs_note` saying how much was cut, if any.

JSON shape (`encode.to_json(report)`): the execution summary (see `execution_summary.py`) and

    {..., "tree": NODE, "steps": [STEP, ...],
     "logs": [LOG, ...], "logs_note": "… 1,200 more characters of output were cut" | null}

    LOG = {"at_ms": 3.1, "stream": "stdout" | "stderr" | "log", "message": "...",
           "level": "INFO" | null, "logger": "flux_functions.checkout" | null,
           "at": "3.1ms", "source": "INFO" | "stdout"}

    NODE = {"span_id": 1, "name": "function", "label": "stripe_webhook", "depth": 1,
            "start_ms": 1.2, "duration_ms": 28.0, "status": "ok" | "error" | "skipped",
            "result": "→ { rows_affected: 0 }" | "200 OK" | "✗ Row not found: ..." | "",
            "input": ..., "output": ..., "error": str | null,
            "file": "functions/stripe_webhook.py" | null, "line": 12 | null,
            "attributes": {...}, "children": [NODE, ...], "location": "stripe_webhook.py:12",
            "duration": "28ms", "input_text": "{ customer_id: 'cus_ABC' }" | null,
            "output_text": str | null}

    STEP = {"index": 1, "total": 3, "label": "gateway", "name": "gateway",
            "status": "ok" | "error" | "skipped", "skipped": false,
            "skip_reason": "upstream error" | null,
            "input": "POST /stripe_webhook", "output": "{ event_type: '...' }" | null,
            "error": str | null, "duration_ms": 2.0, "location": "stripe_webhook.py:12" | null,
            "calls": [{"label": "db.update(subscriptions)", "status": "error",
                       "duration_ms": 1.0, "result": "✗ ...", "location": "stripe_webhook.py:12"}],
            "logs": [LOG, ...]}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from http import HTTPStatus
from typing import ClassVar

from flux_lsp.analysis.execution_summary import ExecutionSummary, summarize
from flux_lsp.analysis.inputs import stripe_event, summarize_input
from flux_lsp.analysis.values import compact, duration
from flux_lsp.encode import INLINE
from flux_lsp.model import JSON, Execution, LogEntry, Span, carried, file_label


@dataclass(slots=True)
class TraceNode:
    span_id: int
    name: str
    label: str
    depth: int
    start_ms: float
    duration_ms: float
    status: str
    result: str
    input: JSON = None
    output: JSON = None
    error: str | None = None
    file: str | None = None
    line: int | None = None
    attributes: dict[str, JSON] = field(default_factory=dict)
    children: list[TraceNode] = field(default_factory=list)

    derived: ClassVar[tuple[str, ...]] = ("location", "duration", "input_text", "output_text")

    @property
    def duration(self) -> str:
        """`28ms`, as every renderer shows it."""
        return duration(self.duration_ms)

    @property
    def input_text(self) -> str | None:
        """The input on one line, as the reports show values: `{ customer_id: 'cus_ABC' }`."""
        return None if self.input is None else compact(self.input)

    @property
    def output_text(self) -> str | None:
        return None if self.output is None else compact(self.output)

    @property
    def location(self) -> str | None:
        if self.file is None or self.line is None:
            return None
        return file_label(self.file, self.line)

    def walk(self) -> list[TraceNode]:
        """This node and every descendant, depth first."""
        out = [self]
        for child in self.children:
            out.extend(child.walk())
        return out


@dataclass(slots=True)
class LogLine:
    """One line the handler printed or logged, with its offset and label as every renderer
    shows them."""

    entry: LogEntry = field(metadata=INLINE)

    derived: ClassVar[tuple[str, ...]] = ("at", "source")

    @property
    def at(self) -> str:
        """`3.1ms`, `1.25s`: how long after the execution started."""
        return duration(self.entry.at_ms)

    @property
    def source(self) -> str:
        """Its level for a log record (`WARNING`), else its stream (`stdout`)."""
        return self.entry.source


def log_lines(entries: list[LogEntry]) -> list[LogLine]:
    return [LogLine(entry) for entry in entries]


@dataclass(slots=True)
class StepCall:
    label: str
    status: str
    duration_ms: float
    result: str
    location: str | None


@dataclass(slots=True)
class DebugStep:
    index: int
    total: int
    label: str
    name: str
    status: str
    skipped: bool
    skip_reason: str | None
    input: str | None
    output: str | None
    error: str | None
    duration_ms: float
    location: str | None = None
    calls: list[StepCall] = field(default_factory=list)
    logs: list[LogLine] = field(default_factory=list)
    """What the handler printed and logged (on the function's step)."""


@dataclass(slots=True)
class TraceReport:
    execution: ExecutionSummary = field(metadata=INLINE)
    tree: TraceNode | None = None
    steps: list[DebugStep] = field(default_factory=list)
    logs: list[LogLine] = field(default_factory=list)
    logs_note: str | None = None
    """Set when output was cut: `… 1,200 more characters of output were cut`."""

    derived: ClassVar[tuple[str, ...]] = ("failing_span_id",)

    @property
    def failing_span_id(self) -> int | None:
        """The span where the error was raised: the deepest erroring node (the last of them in
        the tree's order when several are as deep)."""
        failing: TraceNode | None = None
        for node in self.tree.walk() if self.tree else []:
            if node.status == "error" and (failing is None or node.depth >= failing.depth):
                failing = node
        return failing.span_id if failing else None

    trace_id: str | None = None
    """The W3C trace id (`flux tail --filter trace=<id>` lists the trace's executions)."""

    def row_ms(self, node: TraceNode) -> float:
        """The time a tree row shows: the root's own step (the seed's `queue.dispatch  2ms`),
        not the whole execution it spans; any other node its duration."""
        if node is self.tree and self.steps:
            return self.steps[0].duration_ms
        return node.duration_ms


def span_result(span: Span) -> str:
    """What a span came to, as the seed prints it: `→ {...}`, `200 OK`, `✗ error`."""
    if span.status == "skipped":
        return "skipped"
    if span.error:
        return f"✗ {span.error}"
    if span.name == "response" and isinstance(span.output, dict):
        status = str(span.output.get("status", ""))
        if status.isdigit():
            try:
                return f"{status} {HTTPStatus(int(status)).phrase}"
            except ValueError:
                return status
        return status
    if span.output is None:
        return ""
    return "→ " + compact(span.output, 80)


def _node(span: Span, depth: int) -> TraceNode:
    """The span as a tree node; its name, label, times, status, input, output, error and
    call site are the span's own."""
    return carried(
        TraceNode,
        span,
        span_id=span.id,
        depth=depth,
        result=span_result(span),
        attributes=dict(span.attributes),
        children=[],
    )


def _stages(spans: list[Span]) -> list[Span]:
    """The top-level stages: the root span, then every other span without a parent."""
    return [s for s in spans if s.parent is None]


def build_tree(spans: list[Span]) -> TraceNode | None:
    """Nest spans: orphan stages under the root, and `response` under the function span."""
    if not spans:
        return None
    by_parent: dict[int | None, list[Span]] = {}
    for s in spans:
        by_parent.setdefault(s.parent, []).append(s)
    stages = _stages(spans)
    root_span, rest = stages[0], stages[1:]
    function = next((s for s in rest if s.name == "function"), None)

    def children_of(span: Span) -> list[Span]:
        kids = [c for c in by_parent.get(span.id, []) if c.id != span.id]
        if span is root_span:
            kids += [s for s in rest if function is None or s is function or s.name != "response"]
        elif span is function:
            kids += [s for s in rest if s.name == "response"]
        return sorted(kids, key=lambda s: (s.start_ms, s.id))

    def build(span: Span, depth: int, seen: set[int]) -> TraceNode:
        node = _node(span, depth)
        seen.add(span.id)
        for child in children_of(span):
            if child.id not in seen:
                node.children.append(build(child, depth + 1, seen))
        return node

    root = build(root_span, 0, set())
    root.result = ""  # the root's outcome is the execution's, shown in the report's header
    return root


def _self_time(span: Span, spans: list[Span], stages: list[Span]) -> float:
    """A root stage's own time: its duration less the stages and children inside it."""
    inner = [s for s in spans if s.parent == span.id] + (
        [s for s in stages if s is not span] if span is stages[0] else []
    )
    return max(0.0, span.duration_ms - sum(s.duration_ms for s in inner))


def _descendants(span: Span, spans: list[Span]) -> list[Span]:
    out: list[Span] = []
    frontier = [span.id]
    while frontier:
        parent = frontier.pop(0)
        kids = [s for s in spans if s.parent == parent and s.id != parent]
        out.extend(kids)
        frontier.extend(k.id for k in kids)
    return sorted(out, key=lambda s: (s.start_ms, s.id))


def _handover(execution: Execution) -> str | None:
    """What the root stage handed to the function: a Stripe event's type, or the payload."""
    body = execution.request.get("body") if execution.kind != "job" else None
    event = stripe_event(body)
    if event is not None:
        handed = {"event_type": event["type"]}
        if isinstance(event.get("id"), str):
            handed["event_id"] = event["id"]
        return compact(handed)
    if execution.kind == "job":
        return compact(execution.job or {"function": execution.function})
    return compact(body) if body not in (None, "") else None


def debug_steps(execution: Execution) -> list[DebugStep]:
    """The execution's stages in order, with what went in and out of each."""
    spans = execution.spans
    stages = _stages(spans)
    if not stages:
        return []
    summary = summarize_input(execution)
    err = execution.error
    steps: list[DebugStep] = []
    failed_before = False
    for index, span in enumerate(stages, start=1):
        is_root = index == 1
        skipped = span.status == "skipped" or (failed_before and span.status != "error")
        step_error: str | None = span.error
        location: str | None = None
        if span.name == "function":
            step_input = summary.text or (compact(span.input) if span.input is not None else None)
            step_output = compact(span.output) if span.output is not None else None
            if err is not None and span.status == "error":
                step_error = err.message
                location = err.location.label if err.location else None
            elif span.file and span.line:
                location = file_label(span.file, span.line)
        elif is_root:
            step_input = str(span.input) if span.input is not None else execution.function
            step_output = _handover(execution)
            step_error = None  # the root carries the function's error; it is shown there
        else:
            step_input = None
            step_output = span_result(span) if not skipped else None
        step_status = "skipped" if skipped else span.status
        if is_root and any(s.status == "error" for s in stages[1:]):
            step_status = "ok"  # the root only carries the error a later stage raised
        calls = [
            StepCall(
                label=c.label,
                status=c.status,
                duration_ms=c.duration_ms,
                result=span_result(c),
                location=file_label(c.file, c.line) if c.file and c.line else None,
            )
            for c in _descendants(span, spans)
        ]
        steps.append(
            DebugStep(
                index=index,
                total=len(stages),
                label=span.label,
                name=span.name,
                status=step_status,
                skipped=skipped,
                skip_reason="upstream error" if skipped and failed_before else None,
                input=None if skipped else step_input,
                output=None if skipped else step_output,
                error=None if skipped else step_error,
                duration_ms=_self_time(span, spans, stages) if is_root else span.duration_ms,
                location=location,
                calls=[] if skipped else calls,
                logs=log_lines(execution.logs) if span.name == "function" else [],
            )
        )
        if span.status == "error" and not is_root:
            failed_before = True
    return steps


def trace_report(execution: Execution) -> TraceReport:
    return TraceReport(
        summarize(execution),
        build_tree(execution.spans),
        debug_steps(execution),
        logs=log_lines(execution.logs),
        logs_note=logs_note(execution.logs_cut),
        trace_id=execution.trace_id or None,
    )


def logs_note(cut: int) -> str | None:
    """How much output an execution left out, or None when it kept it all."""
    if not cut:
        return None
    return f"… {cut:,} more character{'s' if cut != 1 else ''} of output were cut"
