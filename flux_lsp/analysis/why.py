"""`WhyReport`: why an execution failed — root cause, location, input, data changes, suggestion.

The root cause comes from rules over the error type, the spans and the mutations, tried in
order: a bad webhook signature, a validation error, a row that was not found, a timeout, a
failed outbound call, an exception in user code, an error status the handler returned, and an
update that silently matched no row. `why_report()` is pure (one execution in, one report out);
`explain()` also reads the mutation log of other executions through a `Store`, to say when the
row that was not found was created later by another execution (the seed's signup-order bug).

JSON shape (`encode.to_json(report)`): the execution summary (see `execution_summary.py`) and

    {..., "root_cause": {"rule": "row_not_found" | "validation" | "bad_signature" | "timeout" |
                    "outbound_call" | "exception" | "error_status" | "no_rows_changed" |
                    "ok",
                    "summary": "Row not found: subscriptions WHERE customer_id = 'cus_ABC'",
                    "error_type": "RowNotFound" | null, "details": ["..."]},
     "location": {"file": "functions/stripe_webhook.py", "line": 12, "col": 8,
                  "end_line": 15, "end_col": 9, "function": "handler",
                  "source_line": "        await ctx.db.update(",
                  "label": "stripe_webhook.py:12"} | null,
     "input": INPUT_SUMMARY (see analysis/inputs.py),
     "data_changes": [{"table": "subscriptions", "op": "UPDATE", "rows_affected": 0,
                       "pks": [], "where": {"customer_id": "cus_ABC"},
                       "text": "subscriptions  UPDATE  0 rows affected"}],
     "related": [{"relation": "created_later", "execution_id": "...",
                  "short_id": "req:ab12cd34", "function": "confirm_email",
                  "delay_seconds": 2.1, "table": "subscriptions",
                  "where": {"customer_id": "cus_ABC"}, "pk": "s_1",
                  "text": "The subscriptions row (customer_id = 'cus_ABC') was created 2.1 s
                           later by confirm_email (req:ab12cd34)"}],
     "suggestions": ["→ Customer row does not exist at webhook time", "..."]}
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, ClassVar

from flux_lsp.analysis.execution_summary import ExecutionSummary, summarize
from flux_lsp.analysis.inputs import InputSummary, summarize_input
from flux_lsp.analysis.values import delay, plain
from flux_lsp.encode import INLINE
from flux_lsp.model import (
    JSON,
    CodeSpan,
    Execution,
    Mutation,
    Span,
    describe_where,
    short_id,
)

if TYPE_CHECKING:
    from flux_lsp.recorder.store import Store

TIMEOUT_TYPES = frozenset(
    {"TimeoutError", "ReadTimeout", "ConnectTimeout", "WriteTimeout", "PoolTimeout", "Timeout"}
)
MUTATION_PAGES = 5


@dataclass(slots=True)
class RootCause:
    rule: str
    summary: str
    error_type: str | None = None
    details: list[str] = field(default_factory=list)


@dataclass
class CodeLocation(CodeSpan):
    """Where the failure is, whole (the error's place without its context lines), labelled."""

    derived: ClassVar[tuple[str, ...]] = ("label",)


@dataclass(slots=True)
class DataChange:
    table: str
    op: str
    rows_affected: int
    pks: list[str] = field(default_factory=list)
    where: dict[str, JSON] | None = None

    derived: ClassVar[tuple[str, ...]] = ("text",)

    @property
    def text(self) -> str:
        rows = "row" if self.rows_affected == 1 else "rows"
        return f"{self.table}  {self.op}  {self.rows_affected} {rows} affected"


@dataclass(slots=True)
class RelatedExecution:
    relation: str
    """`created_later`: another execution wrote the row this one did not find, after it."""
    execution_id: str
    function: str
    delay_seconds: float
    table: str
    where: dict[str, JSON]
    pk: str | None = None

    derived: ClassVar[tuple[str, ...]] = ("short_id", "text")

    @property
    def short_id(self) -> str:
        return short_id(self.execution_id)

    @property
    def text(self) -> str:
        lookup = describe_where(self.where)
        return (
            f"The {self.table} row ({lookup}) was created {delay(self.delay_seconds)} later "
            f"by {self.function} ({self.short_id})"
        )


@dataclass(slots=True)
class WhySection:
    """One block of the why text, as the CLI, the hover and the webview all show it."""

    key: str
    """`root_cause`, `location`, `input`, `data_changes` or `suggestion`."""
    label: str
    """`ROOT CAUSE`, `LOCATION`, `INPUT`, `DATA CHANGES`, `SUGGESTION`."""
    lines: list[str]


@dataclass(slots=True)
class WhyReport:
    execution: ExecutionSummary = field(metadata=INLINE)
    root_cause: RootCause
    location: CodeLocation | None
    input: InputSummary
    data_changes: list[DataChange] = field(default_factory=list)
    related: list[RelatedExecution] = field(default_factory=list)
    suggestions: list[str] = field(default_factory=list)

    derived: ClassVar[tuple[str, ...]] = ("sections",)

    @property
    def sections(self) -> list[WhySection]:
        """The why text: every renderer shows these lines, worded here once."""
        cause = self.root_cause
        out = [WhySection("root_cause", "ROOT CAUSE", [cause.summary, *cause.details])]
        if self.location is not None:
            loc = self.location
            source = f"   {loc.source_line.strip()}" if loc.source_line else ""
            out.append(WhySection("location", "LOCATION", [loc.label + source]))
        inputs = input_lines(self.input)
        if inputs:
            out.append(WhySection("input", "INPUT", inputs))
        if self.data_changes:
            changes = [d.text for d in self.data_changes]
            out.append(WhySection("data_changes", "DATA CHANGES", changes))
        if self.suggestions:
            out.append(WhySection("suggestion", "SUGGESTION", list(self.suggestions)))
        return out


# -- helpers ------------------------------------------------------------------------------


def input_lines(summary: InputSummary) -> list[str]:
    """`Stripe event: payment_intent.succeeded`, `customer_id: cus_ABC  amount: 4900`, and the
    missing or marked fields (`← email was missing`, `← divisor is 0 (zero)`)."""
    lines = [summary.heading] if summary.heading else []
    missing = ""
    if summary.missing:
        verb = "was" if len(summary.missing) == 1 else "were"
        missing = f"   ← {', '.join(summary.missing)} {verb} missing"
    if summary.kind == "stripe_event":
        lines.append("  ".join(f"{f.name}: {plain(f.value)}" for f in summary.fields) + missing)
    elif summary.fields:
        lines.append(summary.text + missing)
    elif summary.missing:
        lines.append("(empty)" + missing)
    lines.extend(f"← {f.name} is {plain(f.value)} ({f.note})" for f in summary.fields if f.note)
    return lines


def data_changes(mutations: list[Mutation]) -> list[DataChange]:
    """Mutations grouped by consecutive (table, operation), rows affected summed."""
    out: list[DataChange] = []
    for m in sorted(mutations, key=lambda m: m.seq):
        op = m.op.upper()
        last = out[-1] if out else None
        if last is not None and (last.table, last.op) == (m.table, op):
            last.rows_affected += m.rows_affected
            if m.pk is not None:
                last.pks.append(m.pk)
            continue
        out.append(
            DataChange(
                table=m.table,
                op=op,
                rows_affected=m.rows_affected,
                pks=[m.pk] if m.pk is not None else [],
                where=m.where,
            )
        )
    return out


def failed_lookup(execution: Execution) -> Mutation | None:
    """The last update or delete that matched no row."""
    for m in reversed(execution.mutations):
        if m.rows_affected == 0 and m.op in ("update", "delete") and m.where:
            return m
    return None


def _outbound_failure(spans: list[Span]) -> Span | None:
    for s in spans:
        if s.name != "http.request":
            continue
        code = s.attributes.get("http.response.status_code")
        if s.status == "error" or (isinstance(code, int) and code >= 500):
            return s
    return None


def _timeout_span(spans: list[Span]) -> Span | None:
    """The innermost call that timed out (stages only carry their calls' errors)."""
    for s in spans:
        if s.parent is None:
            continue
        text = (s.error or "").lower()
        if "timeout" in text or "timed out" in text:
            return s
    return None


def _outbound_target(span: Span) -> str:
    attrs = span.attributes
    method = attrs.get("http.request.method")
    url = attrs.get("url.full") or attrs.get("server.address") or span.label
    return f"{method} {url}" if method else str(url)


def _host(span: Span) -> str:
    attrs = span.attributes
    host = attrs.get("server.address")
    if isinstance(host, str):
        return host
    url = attrs.get("url.full")
    if isinstance(url, str) and "://" in url:
        return url.split("://", 1)[1].split("/", 1)[0]
    return "the remote service"


def entity_name(table: str, where: dict[str, Any] | None) -> str:
    """`Customer` for a lookup by `customer_id`, else the table's singular: `Subscription`."""
    for key in where or {}:
        if key.endswith("_id") and len(key) > 3:
            return key[:-3].replace("_", " ").capitalize()
    singular = table[:-1] if table.endswith("s") else table
    return singular.replace("_", " ").capitalize()


def moment_name(execution: Execution) -> str:
    """`webhook` for a webhook, `job` for a job, else the function's name."""
    if "webhook" in execution.function:
        return "webhook"
    if execution.kind == "job":
        return "job"
    return execution.function


def _is_signature_error(execution: Execution) -> bool:
    """A webhook whose signature check failed (the verify span, or the error, says so)."""
    err = execution.error
    if err is None:
        return False
    if any(s.name.endswith("verify_webhook") and s.status == "error" for s in execution.spans):
        return True
    text = f"{err.type} {err.message}".lower()
    return "signature" in text and any(
        word in text for word in ("verif", "invalid", "bad", "mismatch", "missing")
    )


# -- the rules -----------------------------------------------------------------------------


def root_cause(execution: Execution) -> RootCause:
    """The first rule that explains this execution."""
    err = execution.error
    etype = err.type if err else None
    if err is not None and _is_signature_error(execution):
        return RootCause("bad_signature", f"Bad webhook signature: {err.message}", etype)
    if err is not None and err.type == "ValidationError":
        return RootCause("validation", f"Validation error: {err.message}", etype)
    lookup = failed_lookup(execution)
    if err is not None and (err.type == "RowNotFound" or err.message.startswith("Row not found")):
        return RootCause("row_not_found", err.message, etype)
    timeout = _timeout_span(execution.spans)
    if err is not None and (err.type in TIMEOUT_TYPES or timeout is not None):
        where = f" ({_outbound_target(timeout)})" if timeout else ""
        return RootCause("timeout", f"Timeout{where}: {err.message}", etype)
    outbound = _outbound_failure(execution.spans)
    if outbound is not None and (err is not None or execution.failed):
        code = outbound.attributes.get("http.response.status_code")
        result = f"answered {code}" if code else (outbound.error or "failed")
        return RootCause(
            "outbound_call",
            f"Outbound call failed: {_outbound_target(outbound)} {result}",
            etype,
            [f"{err.type}: {err.message}"] if err else [],
        )
    if err is not None and err.frames and etype not in ("ServerError", "ClientError"):
        return RootCause("exception", f"{err.type}: {err.message}", etype)
    if err is not None:
        return RootCause(
            "error_status",
            f"{execution.function} answered {execution.status}: {err.message}",
            etype,
        )
    if execution.failed:
        return RootCause("error_status", f"{execution.function} ended {execution.status}", None)
    if lookup is not None:
        return RootCause(
            "no_rows_changed",
            f"No error, but {lookup.op} of {lookup.table} matched no row "
            f"({describe_where(lookup.where or {})})",
            None,
        )
    return RootCause("ok", f"No error: {execution.function} answered {execution.status}", None)


_EXCEPTION_HINTS = {
    "KeyError": "Check for the missing key before reading it (use .get() and answer 400)",
    "ZeroDivisionError": "Guard the division: the divisor can be zero for this input",
    "IndexError": "Check the list's length before indexing it",
    "JSONDecodeError": "The payload is not valid JSON: validate it before parsing",
}


def suggestions(
    execution: Execution,
    cause: RootCause,
    summary: InputSummary,
    related: list[RelatedExecution],
) -> list[str]:
    """What to do about it, one or two lines per rule."""
    err = execution.error
    loc = err.location.label if err and err.location else execution.function
    if cause.rule == "row_not_found" or cause.rule == "no_rows_changed":
        lookup = failed_lookup(execution)
        table = lookup.table if lookup else "the"
        entity = entity_name(table, lookup.where if lookup else None)
        lines = [f"→ {entity} row does not exist at {moment_name(execution)} time"]
        later = next((r for r in related if r.relation == "created_later"), None)
        if later is not None:
            lines.append(
                f"{later.function} creates it {delay(later.delay_seconds)} later: create the "
                f"row before {execution.function} can run, or retry it once the row exists"
            )
        else:
            lines.append(f"Check that the {table} row is created before {execution.function} runs")
        return lines
    if cause.rule == "validation":
        lines = ["→ Add client-side validation or return clear error message"]
        if summary.missing:
            lines.append(f"The request left out {', '.join(summary.missing)}")
        return lines
    if cause.rule == "bad_signature":
        return [
            "→ Check that the webhook signing secret ([stripe] webhook_secret or "
            "STRIPE_WEBHOOK_SECRET) matches the endpoint's secret in the Stripe dashboard",
            "and that nothing re-encodes the raw body before it is verified",
        ]
    if cause.rule == "timeout":
        return [
            "→ The call did not answer in time: raise its timeout, or move the work into a "
            "queued job (ctx.queue) that can retry"
        ]
    if cause.rule == "outbound_call":
        outbound = _outbound_failure(execution.spans)
        host = _host(outbound) if outbound else "the remote service"
        return [
            f"→ {host} failed: retry with backoff, or handle the failure at {loc} "
            "instead of letting it become a 500"
        ]
    if cause.rule == "exception" and err is not None:
        hint = _EXCEPTION_HINTS.get(err.type)
        if hint is None and "NoneType" in err.message:
            hint = "A value was None here: check the lookup or input that produced it"
        if hint is None and err.type == "LookupError":
            hint = "The record it looked up does not exist: check who creates it, and when"
        lines = [
            f"→ {hint or f'Handle {err.type} at {loc}, or validate the input that leads to it'}"
        ]
        marked = [f.name for f in summary.fields if f.note] + summary.missing
        if marked:
            lines.append(f"Look at the input field {', '.join(marked)}")
        return lines
    if cause.rule == "error_status":
        return [f"→ {execution.function} answered {execution.status} at {loc}: check that branch"]
    return []


def code_location(execution: Execution) -> CodeLocation | None:
    err = execution.error
    if err is not None and err.location is not None:
        return CodeLocation(**{f.name: getattr(err.location, f.name) for f in fields(CodeSpan)})
    lookup = failed_lookup(execution)
    if lookup is not None:
        span = next(
            (
                s
                for s in execution.spans
                if s.name == f"db.{lookup.op}" and s.file and s.line is not None
            ),
            None,
        )
        if span is not None and span.file is not None and span.line is not None:
            return CodeLocation(span.file, span.line)
    return None


def why_report(execution: Execution, related: list[RelatedExecution] | None = None) -> WhyReport:
    """The report from this execution alone (plus any related executions already found)."""
    related = list(related or [])
    cause = root_cause(execution)
    summary = summarize_input(execution)
    cause.details.extend(r.text for r in related)
    return WhyReport(
        execution=summarize(execution),
        root_cause=cause,
        location=code_location(execution),
        input=summary,
        data_changes=data_changes(execution.mutations),
        related=related,
        suggestions=suggestions(execution, cause, summary, related),
    )


# -- across executions ---------------------------------------------------------------------


def _same(a: Any, b: Any) -> bool:
    return a == b or str(a) == str(b)


def row_matches(row: dict[str, JSON] | None, where: dict[str, JSON]) -> bool:
    return row is not None and all(k in row and _same(row[k], v) for k, v in where.items())


def creations(mutations: list[Mutation], lookup: Mutation, skip: set[str]) -> list[Mutation]:
    """Inserts and updates after `lookup` that made a row match its WHERE, oldest first."""
    assert lookup.where is not None
    out = []
    for m in mutations:
        if m.execution_id in skip or m.at < lookup.at:
            continue
        if m.op in ("insert", "update", "replace") and row_matches(m.after, lookup.where):
            if m.op == "update" and row_matches(m.before, lookup.where):
                continue  # it already matched before: not the write that created it
            out.append(m)
    return out


async def created_later(store: Store, execution: Execution) -> list[RelatedExecution]:
    """When the row this execution did not find was written afterwards, who wrote it."""
    from flux_lsp.recorder.store import RecorderError, mutation_pages

    lookup = failed_lookup(execution)
    if lookup is None or not lookup.where:
        return []
    skip = {execution.id}
    read = 0
    pages = mutation_pages(store, since=lookup.at, table=lookup.table, creations=True)
    async with contextlib.aclosing(pages):
        async for page in pages:
            for found in creations(page, lookup, skip):
                try:
                    writer: Execution | None = await store.get(found.execution_id)
                except RecorderError:  # the writer's record may be gone; say what we know
                    writer = None
                if writer is not None and writer.kind == "replay":
                    skip.add(found.execution_id)
                    continue
                return [
                    RelatedExecution(
                        relation="created_later",
                        execution_id=found.execution_id,
                        function=writer.function if writer else "another execution",
                        delay_seconds=found.at - lookup.at,
                        table=lookup.table,
                        where=dict(lookup.where),
                        pk=found.pk,
                    )
                ]
            read += 1
            if read == MUTATION_PAGES:
                break
    return []


async def explain(store: Store, execution: Execution) -> WhyReport:
    """The full why report: the execution's own rules plus what other executions did."""
    related = await created_later(store, execution)
    return why_report(execution, related)
