"""What a regression case expects of its subject, and the readable difference when it is not met.

An expectation is a JSON object in the case file:
- `status`: `"201"`, a class such as `"2xx"`, or `"not 5xx"` (for a job: `"done"`);
- `error`: `null` for "no error", or text the error message must contain;
- `body`: the response body; `mutations`: the writes to the app's tables, in order
  (`{"table", "op", "rows_affected", "row"}`, `row` being the row after an insert or update and
  before a delete);
- `emails` (`{"to", "template"}`) and `jobs` (`{"function", "data"}`): what it sent and enqueued.

A recorded success expects what was recorded (status, body, mutations, no error). A recorded
failure expects what the user says with `--expect` (`status=200`, `error=none`, `body={...}`),
by default `{"status": "not 5xx", "error": null}`.

Noise is ignored by rule, as Keploy's noise fields are: ids the database generated for inserted
rows compare by position (`<users id 1>` on both sides), ISO-8601 date-times compare equal, and
the fields the case lists (`body.token`, or a bare name like `created_at`) are left out.

May import `flux_lsp.model`, `flux_lsp.runtime` and `flux_lsp.replay.case`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, ClassVar

from flux_lsp.model import JSON, Execution, Mutation
from flux_lsp.replay.case import Noise
from flux_lsp.runtime.email import EMAIL_SENDS_TABLE
from flux_lsp.runtime.queue import JOBS_TABLE

NOT_5XX = "not 5xx"
DEFAULT_FAILURE_EXPECTATION: dict[str, JSON] = {"status": NOT_5XX, "error": None}
"""What a case saved from a failure expects unless the user says otherwise."""
EXPECT_KEYS = ("status", "error", "body")
SERVICE_TABLES = frozenset({EMAIL_SENDS_TABLE, JOBS_TABLE})
EMAIL_SPAN, ENQUEUE_SPAN = "email.send", "queue.enqueue"
TIMESTAMP = "<timestamp>"
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$")
_STATUS_CLASS = re.compile(r"^[1-5]xx$", re.IGNORECASE)


class ExpectationError(ValueError):
    """An `--expect` the user wrote that Flux cannot read."""


def parse_expectations(items: list[str]) -> dict[str, JSON]:
    """`["status=200", "error=none"]` → `{"status": "200", "error": None}`."""
    out: dict[str, JSON] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or key not in EXPECT_KEYS:
            raise ExpectationError(
                f"bad --expect {item!r}: use status=200 (or 2xx, 'not 5xx'), error=none "
                "(or text the error contains), or body=<JSON>"
            )
        value = value.strip()
        if key == "status":
            if not (value.isdigit() or _STATUS_CLASS.match(value) or value in (NOT_5XX, "done")):
                raise ExpectationError(f"bad --expect {item!r}: a status is 200, 2xx or 'not 5xx'")
            out[key] = value.lower()
        elif key == "error":
            out[key] = None if value.lower() in ("none", "null", "") else value
        else:
            try:
                out[key] = json.loads(value)
            except json.JSONDecodeError as exc:
                raise ExpectationError(f"bad --expect body: not JSON ({exc.msg})") from None
    return out


def status_matches(rule: str, status: str) -> bool:
    """Whether a run's status meets the expected one (`201`, `2xx`, `not 5xx`, `done`)."""
    if rule == NOT_5XX:
        return status != "failed" and not (status.isdigit() and int(status) >= 500)
    if _STATUS_CLASS.match(rule):
        return status[:1] == rule[:1] and status.isdigit()
    return status == rule


def mutation_record(m: Mutation) -> dict[str, JSON]:
    """How a write is kept in an expectation and compared."""
    return {
        "table": m.table,
        "op": m.op,
        "rows_affected": m.rows_affected,
        "row": m.before if m.op == "delete" else m.after,
    }


def app_writes(execution: Execution) -> list[dict[str, JSON]]:
    """The writes to the app's own tables: Flux's bookkeeping of emails and jobs is left out
    (a replay sends no email, so it writes no `email_sends` row; see `effects`)."""
    return [mutation_record(m) for m in execution.mutations if m.table not in SERVICE_TABLES]


def effects(execution: Execution) -> dict[str, list[dict[str, JSON]]]:
    """The emails the execution sent (or, replayed, would have sent) and the jobs it enqueued."""
    emails: list[dict[str, JSON]] = []
    jobs: list[dict[str, JSON]] = []
    for span in execution.spans:
        given = span.input if isinstance(span.input, dict) else {}
        if span.name == EMAIL_SPAN and span.status == "ok":
            emails.append({"to": given.get("to"), "template": given.get("template")})
        elif span.name == ENQUEUE_SPAN and span.status == "ok":
            jobs.append({"function": given.get("function"), "data": given.get("data")})
    return {"emails": emails, "jobs": jobs}


def generated_ids(mutations: list[dict[str, JSON]]) -> dict[str, str]:
    """Ids of inserted rows, each named by its table and position: `{"u_3": "<users id 1>"}`."""
    ids: dict[str, str] = {}
    counts: dict[str, int] = {}
    for m in mutations:
        row = m.get("row")
        if m.get("op") != "insert" or not isinstance(row, dict):
            continue
        table = str(m.get("table"))
        value = row.get("id")
        if isinstance(value, str) and value not in ids:
            counts[table] = counts.get(table, 0) + 1
            ids[value] = f"<{table} id {counts[table]}>"
    return ids


def _noisy(path: str, noise: Noise) -> bool:
    return any(path == f or path.endswith("." + f) for f in noise.fields)


def normalize(value: JSON, path: str, noise: Noise, ids: dict[str, str]) -> JSON:
    """`value` with noise ruled out: listed fields dropped, ids and date-times neutralized."""
    if isinstance(value, dict):
        return {
            k: normalize(v, f"{path}.{k}", noise, ids)
            for k, v in value.items()
            if not _noisy(f"{path}.{k}", noise)
        }
    if isinstance(value, list):
        return [normalize(v, f"{path}.{i}", noise, ids) for i, v in enumerate(value)]
    if isinstance(value, str):
        if noise.generated_ids and value in ids:
            return ids[value]
        if noise.timestamps and _ISO.match(value):
            return TIMESTAMP
    return value


@dataclass(slots=True)
class Difference:
    """One way the run differs from the expectation."""

    path: str
    """`status`, `error`, `body.id`, `mutations.0.row.name`, ..."""
    expected: JSON
    actual: JSON
    missing: bool = False
    """Expected, but the run did not produce it."""
    unexpected: bool = False
    """Produced by the run, not expected."""

    derived: ClassVar[tuple[str, ...]] = ("text",)

    @property
    def text(self) -> str:
        """`body.id  expected "<users id 1>", got "u_1"`, `status  expected 200, got 500`."""
        show = _plain_text if self.path in ("status", "error", "network") else show_value
        if self.missing:
            return f"{self.path}  expected {show(self.expected)}, missing"
        if self.unexpected:
            return f"{self.path}  unexpected {show(self.actual)}"
        return f"{self.path}  expected {show(self.expected)}, got {show(self.actual)}"


def _plain_text(value: JSON) -> str:
    return "none" if value is None else str(value)


def show_value(value: JSON) -> str:
    """A value as one line of JSON (`none` for null), cut at 200 characters."""
    if value is None:
        return "none"
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 200 else text[:199] + "…"


def compare_values(expected: JSON, actual: JSON, path: str) -> list[Difference]:
    """Every leaf where `actual` differs from `expected`."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        diffs: list[Difference] = []
        for key, value in expected.items():
            if key not in actual:
                diffs.append(Difference(f"{path}.{key}", value, None, missing=True))
            else:
                diffs.extend(compare_values(value, actual[key], f"{path}.{key}"))
        diffs.extend(
            Difference(f"{path}.{k}", None, v, unexpected=True)
            for k, v in actual.items()
            if k not in expected
        )
        return diffs
    if isinstance(expected, list) and isinstance(actual, list):
        diffs = []
        for i, (e, a) in enumerate(zip(expected, actual, strict=False)):
            diffs.extend(compare_values(e, a, f"{path}.{i}"))
        diffs.extend(
            Difference(f"{path}.{i}", e, None, missing=True)
            for i, e in enumerate(expected[len(actual) :], len(actual))
        )
        diffs.extend(
            Difference(f"{path}.{i}", None, a, unexpected=True)
            for i, a in enumerate(actual[len(expected) :], len(expected))
        )
        return diffs
    return [] if expected == actual else [Difference(path, expected, actual)]


def error_text(run: Execution) -> str | None:
    """`RowNotFound: Row not found: ... (functions/stripe_webhook.py:12)`, or None."""
    if run.error is None:
        return None
    where = run.error.location
    at = f" ({where.file}:{where.line})" if where is not None else ""
    return f"{run.error.type}: {run.error.message}{at}"


def check(expect: dict[str, JSON], noise: Noise, run: Execution) -> list[Difference]:
    """How `run` (the subject's re-run) differs from `expect`; empty when it meets it."""
    diffs: list[Difference] = []
    status = expect.get("status")
    if status is not None and not status_matches(str(status), run.status):
        diffs.append(Difference("status", status, run.status))
    if "error" in expect:
        wanted, got = expect["error"], error_text(run)
        if wanted is None and got is not None:
            diffs.append(Difference("error", None, got))
        elif wanted is not None and (got is None or str(wanted) not in got):
            diffs.append(Difference("error", wanted, got))
    expected_mutations = expect.get("mutations")
    actual_mutations = app_writes(run)
    want_ids = generated_ids(expected_mutations if isinstance(expected_mutations, list) else [])
    got_ids = generated_ids(actual_mutations)
    if "body" in expect:
        diffs.extend(
            compare_values(
                normalize(expect["body"], "body", noise, want_ids),
                normalize(run.response.get("body"), "body", noise, got_ids),
                "body",
            )
        )
    done = effects(run)
    for kind in ("emails", "jobs"):
        if isinstance(expect.get(kind), list):
            diffs.extend(
                compare_values(
                    normalize(expect[kind], kind, noise, want_ids),
                    normalize(done[kind], kind, noise, got_ids),
                    kind,
                )
            )
    if isinstance(expected_mutations, list):
        diffs.extend(
            compare_values(
                _by_table(normalize(expected_mutations, "mutations", noise, want_ids), noise),
                _by_table(normalize(actual_mutations, "mutations", noise, got_ids), noise),
                "mutations",
            )
        )
    return diffs


def _by_table(mutations: Any, noise: Noise) -> Any:
    """Mutation rows with the noise fields named `mutations.<table>.<column>` left out."""
    if not noise.fields or not isinstance(mutations, list):
        return mutations
    out = []
    for m in mutations:
        row = m.get("row") if isinstance(m, dict) else None
        if isinstance(row, dict):
            table = m.get("table")
            m = {
                **m,
                "row": {
                    k: v for k, v in row.items() if not _noisy(f"mutations.{table}.{k}", noise)
                },
            }
        out.append(m)
    return out
