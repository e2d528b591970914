"""The analysis layer on its own: reports built from hand-made records, no app, no store.

The end-to-end tests (`tests/cli`, `tests/lsp`) record real executions and read them back;
these check the pure functions of `analysis/` and the one encoder on records written here, so
a rule's edge cases do not need an app to reach them.
"""

from __future__ import annotations

import json

from flux_lsp.analysis.diff import trace_diff
from flux_lsp.analysis.execution_summary import outcome, summarize, target
from flux_lsp.analysis.recent_failures import recent_failures
from flux_lsp.analysis.tail import TailReport, mutation_summary, tail_line
from flux_lsp.analysis.trace_report import build_tree, trace_report
from flux_lsp.analysis.why import data_changes, input_lines, root_cause, why_report
from flux_lsp.encode import to_json
from flux_lsp.lsp.answer import CommandAnswer
from flux_lsp.lsp.report_schema import REPORTS, report_schema
from flux_lsp.model import ErrorInfo, Execution, Location, Mutation, Span

ID = "7c8d9e0f12345678"
LOOKUP = {"customer_id": "cus_ABC"}


def execution(status: str = "500", **changes: object) -> Execution:
    """A webhook whose update matched no row: the seed's incident, written by hand."""
    spans = [
        Span(1, "gateway", None, 0.0, 32.0, "error", input="POST /stripe_webhook"),
        Span(2, "function", 1, 2.0, 28.0, "error", {"code.function.name": "stripe_webhook"}),
        Span(3, "db.update", 2, 4.0, 3.0, "error", {"db.collection.name": "subscriptions"},
             error="Row not found", file="functions/stripe_webhook.py", line=12),
        Span(4, "response", None, 30.0, 1.0, "ok", output={"status": status}),
    ]  # fmt: skip
    mutation = Mutation(ID, 0, "subscriptions", "update", None, None, None, 0, 100.0, LOOKUP)
    error = ErrorInfo(
        "RowNotFound",
        "Row not found: subscriptions WHERE customer_id = 'cus_ABC'",
        Location(
            "functions/stripe_webhook.py", 12, 8, 16, 9, "handler", "    await ctx.db.update("
        ),
        frames=[Location("functions/stripe_webhook.py", 12)],
    )
    record = Execution(
        id=ID,
        kind="http",
        function="stripe_webhook",
        method="POST",
        path="/stripe_webhook",
        status=status,
        started_at=100.0,
        duration_ms=32.123456,
        request={"body": {"type": "payment_intent.succeeded",
                          "data": {"object": {"customer_id": "cus_ABC", "amount": 4900}}}},
        error=error if status == "500" else None,
        spans=spans,
        mutations=[mutation],
    )  # fmt: skip
    for key, value in changes.items():
        setattr(record, key, value)
    return record


def test_the_summary_decides_target_outcome_and_error_line() -> None:
    failed = summarize(execution())
    assert (failed.target, failed.outcome, failed.short_id) == (
        "POST /stripe_webhook",
        "failed",
        "req:7c8d9e0f",
    )
    assert failed.error is not None and failed.error.location == "stripe_webhook.py:12"
    assert outcome(execution("404")) == "client_error" and outcome(execution("200")) == "ok"
    assert target(execution(kind="job", status="failed")) == "JOB  stripe_webhook"
    assert target(execution(kind="replay")) == "REPLAY  POST /stripe_webhook"


def test_the_encoder_writes_fields_then_derived_values_with_the_summary_inlined() -> None:
    doc = to_json(tail_line(execution()))
    assert doc["short_id"] == "req:7c8d9e0f" and doc["target"] == "POST /stripe_webhook"
    assert "execution" not in doc, "the summary is inlined, not nested"
    assert doc["duration_ms"] == 32.123, "milliseconds are given to the microsecond"
    assert doc["error"]["type"] == "RowNotFound"
    assert json.loads(json.dumps(doc)) == doc


def test_every_report_the_editor_reads_matches_its_schema() -> None:
    """The schema the extension's types are generated from lists exactly the keys sent."""
    defs = report_schema()["$defs"]
    e = execution()
    sent = {
        "CommandAnswer": to_json(CommandAnswer("why", e.id, why_report(e), "**ROOT CAUSE**")),
        "WhyReport": to_json(why_report(e)),
        "TraceReport": to_json(trace_report(e)),
        "TraceDiff": to_json(trace_diff(execution("200"), e)),
        "TailReport": to_json(TailReport([tail_line(e)], "c1")),
        "TailLine": to_json(tail_line(e)),
        "RecentFailures": to_json(recent_failures([e], "24h")),
    }
    assert {cls.__name__ for cls in REPORTS} >= set(sent) - {"TailLine"}
    for name, doc in sent.items():
        assert list(doc) == list(defs[name]["properties"]), name
        assert defs[name]["required"] == list(doc)


def test_recent_failures_are_newest_first_capped_counted_and_worded() -> None:
    failures = [execution(id=f"{n:016x}", started_at=100.0 + n) for n in range(3)]
    report = recent_failures(failures, "2h", cap=2)
    assert [line.execution.id for line in report.lines] == [f"{n:016x}" for n in (2, 1)]
    assert (report.count, report.capped, report.state) == (2, True, "failing")
    assert report.label == "Flux: 2+ failing"
    assert report.tooltip == "2+ failed executions in the last 2h — click to pick one"
    assert report.title == "Flux: 2+ failures"
    one = recent_failures(failures[:1], "24h")
    assert (one.label, one.title, one.capped) == ("Flux: 1 failing", "Flux: 1 failure", False)
    assert one.tooltip == "1 failed execution in the last 24h — click to pick one"
    none = recent_failures([], "15m")
    assert (none.state, none.label, none.count) == ("clear", "Flux", 0)
    assert none.tooltip == "No failed executions in the last 15m"
    assert none.empty == "Flux: no failures in the last 15m."


def test_the_failing_span_is_the_deepest_that_erred() -> None:
    report = trace_report(execution())
    assert report.failing_span_id == 3
    assert trace_report(execution("200", spans=[])).failing_span_id is None
    tree = build_tree(execution().spans)
    assert tree is not None and [n.label for n in tree.walk()] == [
        "gateway",
        "stripe_webhook",
        "db.update(subscriptions)",
        "response",
    ]


def test_a_lookup_that_matched_no_row_is_the_root_cause_and_a_data_change() -> None:
    e = execution()
    cause = root_cause(e)
    assert (cause.rule, cause.error_type) == ("row_not_found", "RowNotFound")
    [change] = data_changes(e.mutations)
    assert change.text == "subscriptions  UPDATE  0 rows affected"
    assert mutation_summary(e.mutations[0]) == (
        "subscriptions  update  0 rows (customer_id=cus_ABC)"
    )
    quiet = execution("200")
    assert root_cause(quiet).rule == "no_rows_changed"


def test_the_why_sections_word_the_report_once() -> None:
    report = why_report(execution())
    sections = {s.key: s.lines for s in report.sections}
    assert list(sections) == ["root_cause", "location", "input", "data_changes", "suggestion"]
    assert sections["location"] == ["stripe_webhook.py:12   await ctx.db.update("]
    # the event's fields the failure refers to (the lookup's customer_id)
    assert sections["input"] == ["Stripe event: payment_intent.succeeded", "customer_id: cus_ABC"]
    assert report.location is not None
    assert (report.location.end_line, report.location.end_col) == (16, 9)
    missing = report.input
    missing.missing = ["email"]
    assert input_lines(missing)[-1].endswith("← email was missing")


def test_a_diff_names_where_two_runs_part() -> None:
    diff = trace_diff(execution("200"), execution())
    assert diff.a.status == "200" and diff.b.error is not None
    assert "status 200 → 500" in diff.notes
    assert not diff.identical
