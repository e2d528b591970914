"""Saving a recorded execution as a regression case (`flux test add`, the editor's code action).

The case is the recorded *scenario*, not only the one execution: a webhook that failed because
signup did not create a row can only pass after the signup fix if signup runs first. So the
earlier executions (within `LOOKBACK` seconds) that share a key with the subject — a value its
lookups and changes were keyed on, such as `customer_id = 'cus_ABC'` — are saved as `setup`
steps and run again before it, as an incident replay would run them.

The rows the case starts from are the rows those steps read or changed, as they were when the
scenario started: read from a replay `Sandbox` (the app data at that time, rebuilt from the
mutation log) by each step's lookups — `ctx.db.update/delete`'s `where`, and the `WHERE col = $n`
conditions of its `ctx.db.query` SQL. When the project has no app database here (its recorder is
a remote server) the recorded images stand in: the before-images of changed rows and the rows
queries returned. Every row, request and recorded response is redacted with the project's rules;
the placeholders stay, and their paths are listed in the case's `redacted`.

May import `flux_lsp.model`, `flux_lsp.project`, `flux_lsp.runtime`, `flux_lsp.recorder` and the
rest of `flux_lsp.replay`.
"""

from __future__ import annotations

import collections
import datetime as _dt
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from flux_lsp.model import JSON, Execution, Span, carried, short_id
from flux_lsp.project import Project
from flux_lsp.recorder.query import ExecutionQuery
from flux_lsp.recorder.store import Store
from flux_lsp.replay.case import (
    CASES_DIR,
    SETUP,
    SUBJECT,
    Case,
    Noise,
    OutboundCall,
    Step,
    dump_case,
    slug,
)
from flux_lsp.replay.expect import DEFAULT_FAILURE_EXPECTATION, app_writes, effects
from flux_lsp.replay.rebuild import REPLAY_KIND
from flux_lsp.replay.sandbox import Sandbox
from flux_lsp.runtime.database import DatabaseError, database_url, query_table
from flux_lsp.runtime.http_client import SPAN_NAME as HTTP_SPAN
from flux_lsp.runtime.redaction import REDACTED, Redactor, scalars, scrub_copies
from flux_lsp.runtime.stripe import VERIFY_SPAN

LOOKBACK = 10 * 60.0
"""How far before the subject to look for the executions that led to it (seconds)."""
SETUP_LIMIT = 20
"""The most setup steps a case keeps (the newest): a key every request shares, such as a
tenant id, would otherwise make a case of the whole window."""
TABLE_ROWS_CAP = 1000
"""Rows kept from a query whose conditions Flux cannot read (it read the whole table)."""
_CONDITION = re.compile(
    r"(?:\b\w+\.)?\"?(\w+)\"?\s*=\s*(\$\d+|\?\d*|'(?:[^']|'')*'|-?\d+(?:\.\d+)?)", re.IGNORECASE
)
_WHERE = re.compile(r"\bwhere\b(.*?)(?:\border\s+by\b|\bgroup\s+by\b|\blimit\b|$)", re.I | re.S)


class CaptureError(Exception):
    """The execution cannot be saved as a case (a user-facing reason)."""


# -- what a step read or changed -------------------------------------------------------------


def query_conditions(sql: str, params: list[Any]) -> dict[str, JSON] | None:
    """The equality conditions of a query's WHERE (`{"customer_id": "cus_ABC"}`), `{}` for a
    query without WHERE, or None when it has conditions Flux cannot read."""
    match = _WHERE.search(sql)
    if match is None:
        return {}
    where: dict[str, JSON] = {}
    for column, token in _CONDITION.findall(match.group(1)):
        if token.startswith("$") or token.startswith("?"):
            index = int(token[1:] or 0) - 1
            if not 0 <= index < len(params):
                return None
            where[column] = params[index]
        elif token.startswith("'"):
            where[column] = token[1:-1].replace("''", "'")
        else:
            where[column] = float(token) if "." in token else int(token)
    return where or None


def lookups(execution: Execution) -> list[tuple[str, dict[str, JSON]]]:
    """(table, equality conditions) of every row lookup the execution made."""
    out: list[tuple[str, dict[str, JSON]]] = []
    for span in execution.spans:
        table = span.attributes.get("db.collection.name")
        if not isinstance(table, str) or not isinstance(span.input, dict):
            continue
        if span.name in ("db.update", "db.delete"):
            where = span.input.get("where")
            if isinstance(where, dict):
                out.append((table, where))
        elif span.name == "db.query":
            sql, params = span.input.get("sql"), span.input.get("params") or []
            if isinstance(sql, str) and query_table(sql) == table:
                where = query_conditions(sql, list(params))
                if where is not None:
                    out.append((table, where))
    return out


def keys_of(execution: Execution) -> set[str]:
    """The values the subject's lookups and changes were keyed on."""
    keys: set[str] = set()
    for _table, where in lookups(execution):
        scalars(where, keys, 3)
    for m in execution.mutations:
        if m.op != "insert" and m.pk is not None:
            scalars(m.pk, keys, 3)
    return keys


def mentions(execution: Execution) -> set[str]:
    """Every value an earlier execution was given or wrote (to match against the keys)."""
    seen: set[str] = set()
    request = execution.request
    for part in ("body", "query", "data"):
        scalars(request.get(part), seen, 3)
    for m in execution.mutations:
        scalars(m.pk, seen, 3)
        scalars(m.after, seen, 3)
        scalars(m.where, seen, 3)
    return seen


async def setup_executions(
    store: Store, subject: Execution, lookback: float = LOOKBACK
) -> tuple[list[Execution], int]:
    """The newest `SETUP_LIMIT` earlier executions sharing a key with `subject`, oldest first,
    and how many more there were."""
    keys = keys_of(subject)
    if not keys or lookback <= 0:
        return [], 0
    query = ExecutionQuery(
        since=subject.started_at - lookback,
        until=subject.started_at,
        limit=None,
        newest_first=False,
    )
    found: collections.deque[Execution] = collections.deque(maxlen=SETUP_LIMIT)
    dropped = 0
    async for execution in store.stream(query):
        if execution.id == subject.id or execution.kind == REPLAY_KIND:
            continue
        if keys & mentions(execution):
            dropped += len(found) == SETUP_LIMIT
            found.append(execution)
    return list(found), dropped


# -- the rows to start from ------------------------------------------------------------------


def _row_key(table: str, row: dict[str, JSON]) -> str:
    ident = row.get("id")
    return f"{table}:{ident}" if ident is not None else f"{table}:{json.dumps(row, default=str)}"


class _Rows:
    """Rows by table, each once, in the order they were found."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[str, dict[str, JSON]]] = {}

    def add(self, table: str, row: dict[str, JSON]) -> None:
        self.tables.setdefault(table, {}).setdefault(_row_key(table, row), dict(row))

    def as_dict(self) -> dict[str, list[dict[str, JSON]]]:
        return {table: list(rows.values()) for table, rows in self.tables.items() if rows}


async def _from_sandbox(sandbox: Sandbox, steps: list[Execution], rows: _Rows) -> bool:
    """Rows at the scenario's start, looked up in the sandbox; False if it has no app data."""
    tables = set(await sandbox.database.tables())
    wanted = [(t, w) for e in steps for t, w in lookups(e)]
    if not wanted or not tables & {t for t, _ in wanted}:
        return False
    for table, where in wanted:
        if table not in tables:
            continue
        conditions = " AND ".join(f'"{c}" = ${n}' for n, c in enumerate(where, 1)) or "1 = 1"
        try:
            found, _ = await sandbox.database.query(
                None,
                f'SELECT * FROM "{table}" WHERE {conditions} LIMIT {TABLE_ROWS_CAP}',
                list(where.values()),
            )
        except DatabaseError:
            continue
        for row in found:
            rows.add(table, dict(row))
    return True


def _from_recording(steps: list[Execution], rows: _Rows) -> None:
    """Rows from the recorded images: before-images of changes, rows queries returned."""
    created: set[str] = set()
    for execution in steps:
        for m in execution.mutations:
            if m.op == "insert" and m.after is not None:
                created.add(_row_key(m.table, m.after))
            elif m.before is not None and _row_key(m.table, m.before) not in created:
                rows.add(m.table, m.before)
        for span in execution.spans:
            row = _query_row(span)
            if row is not None and _row_key(row[0], row[1]) not in created:
                rows.add(*row)


def _query_row(span: Span) -> tuple[str, dict[str, JSON]] | None:
    """The one row a `db.query` span returned, with its lookup's columns added back."""
    table = span.attributes.get("db.collection.name")
    if span.name != "db.query" or not isinstance(table, str) or not isinstance(span.output, dict):
        return None
    if "rows" in span.output or "rows_affected" in span.output or not span.output:
        return None
    sql = span.input.get("sql") if isinstance(span.input, dict) else None
    params = span.input.get("params") if isinstance(span.input, dict) else None
    where = query_conditions(sql, list(params or [])) if isinstance(sql, str) else None
    return table, {**(where or {}), **span.output}


async def starting_rows(
    project: Project, store: Store, steps: list[Execution]
) -> dict[str, list[dict[str, JSON]]]:
    """The rows the scenario needs, as they were when its first step started."""
    rows = _Rows()
    found = False
    if project.app_db_path.is_file() or database_url(project):
        sandbox = await Sandbox.create(project, store, steps[0].started_at)
        try:
            found = await _from_sandbox(sandbox, steps, rows)
        finally:
            await sandbox.close()
    if not found:
        _from_recording(steps, rows)
    return rows.as_dict()


# -- steps and the case ----------------------------------------------------------------------


def step_of(execution: Execution, role: str) -> Step:
    """What replay needs of one recorded execution."""
    calls: list[OutboundCall] = []
    stripe: dict[str, JSON] | None = None
    for span in execution.spans:
        if span.name == HTTP_SPAN and isinstance(span.input, dict):
            calls.append(
                OutboundCall(
                    method=str(span.input.get("method")),
                    url=str(span.input.get("url")),
                    body=span.input.get("body"),
                    response=span.output if isinstance(span.output, dict) else None,
                    error=span.error if not isinstance(span.output, dict) else None,
                )
            )
        elif span.name == VERIFY_SPAN and stripe is None:
            failed = span.status == "error"
            stripe = {"verified": not failed, "error": span.error if failed else None}
    return carried(  # kind, function, method, path, status, started_at, job, parent_id
        Step,
        execution,
        role=role,
        execution_id=execution.id,
        request=dict(execution.request),
        values=list(execution.ctx_values),
        http=calls,
        stripe=stripe,
        inserted=inserted_ids(execution),
    )


def inserted_ids(execution: Execution) -> dict[str, list[str]]:
    """The ids of the rows the execution inserted, by table, in order."""
    ids: dict[str, list[str]] = {}
    for m in execution.mutations:
        if m.op == "insert" and m.pk is not None:
            ids.setdefault(m.table, []).append(m.pk)
    return ids


def recorded_expectation(execution: Execution) -> dict[str, JSON]:
    """What a recorded success (or handled 4xx) did: its status, body, writes and no error."""
    expect: dict[str, JSON] = {"status": execution.status, "error": None}
    if execution.kind != "job":
        expect["body"] = execution.response.get("body")
    expect["mutations"] = app_writes(execution)
    expect.update(effects(execution))
    return expect


def _redacted_paths(value: JSON, path: str, out: list[str]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _redacted_paths(v, f"{path}.{k}" if path else str(k), out)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _redacted_paths(v, f"{path}.{i}", out)
    elif isinstance(value, str) and REDACTED in value:
        out.append(path)


def _redact(redactor: Redactor, case: Case) -> None:
    """Apply the project's redaction to everything the case stores — then replace any copy of a
    redacted value found elsewhere in it — and list the placeholders."""
    found: set[str] = set()
    case.rows = {t: [redactor.value(r, 0, found) for r in rows] for t, rows in case.rows.items()}
    for step in case.steps:
        step.request = redactor.value(step.request, 0, found)
        headers = step.request.get("headers")
        if isinstance(headers, dict):
            step.request["headers"] = redactor.headers_dict(
                ((str(k), str(v)) for k, v in headers.items()), found
            )
        for call in step.http:
            call.body = redactor.value(call.body, 0, found)
            call.response = redactor.value(call.response, 0, found)
        step.values = [redactor.value(v, 0, found) for v in step.values]
    case.expect = redactor.value(case.expect, 0, found)
    case.rows = scrub_copies(case.rows, found)
    case.expect = scrub_copies(case.expect, found)
    for step in case.steps:
        step.request = scrub_copies(step.request, found)
        step.values = scrub_copies(step.values, found)
        for call in step.http:
            call.body = scrub_copies(call.body, found)
            call.response = scrub_copies(call.response, found)
    paths: list[str] = []
    _redacted_paths(case.rows, "rows", paths)
    for n, step in enumerate(case.steps):
        _redacted_paths(step.request, f"steps.{n}.request", paths)
        for k, call in enumerate(step.http):
            _redacted_paths(call.body, f"steps.{n}.http.{k}.body", paths)
            _redacted_paths(call.response, f"steps.{n}.http.{k}.response", paths)
    _redacted_paths(case.expect, "expect", paths)
    case.redacted = paths


def _iso(stamp: float) -> str:
    return _dt.datetime.fromtimestamp(stamp, _dt.UTC).isoformat(timespec="seconds")


async def capture_case(
    project: Project,
    store: Store,
    ident: str,
    *,
    name: str | None = None,
    expect: dict[str, JSON] | None = None,
    lookback: float = LOOKBACK,
) -> Case:
    """The case for the recorded execution `ident` (a replay's id stands for its original).

    `expect` replaces the default expectation (see `replay.expect`).
    """
    subject = await store.get(ident)
    if subject.kind == REPLAY_KIND and subject.parent_id:
        subject = await store.get(subject.parent_id)
    setup, dropped = await setup_executions(store, subject, lookback)
    executions = [*setup, subject]
    if expect is None:
        expect = (
            dict(DEFAULT_FAILURE_EXPECTATION) if subject.failed else recorded_expectation(subject)
        )
    case = Case(
        name=name or f"{subject.function}_{subject.id[:8]}",
        function=subject.function,
        steps=[step_of(e, SETUP) for e in setup] + [step_of(subject, SUBJECT)],
        expect=expect,
        rows=await starting_rows(project, store, executions),
        noise=Noise(),
        source={
            "execution_id": subject.id,
            "short_id": subject.short_id,
            "recorded_at": _iso(subject.started_at),
            "status": subject.status,
            "error": subject.error.message if subject.error else None,
            "code_version": subject.code_version,
        },
    )
    case.source["request"] = case.subject.target
    if dropped:
        case.source["setup_dropped"] = dropped
    settings = project.settings
    _redact(Redactor(settings.redact_headers, settings.redact_keys), case)
    return case


@dataclass(slots=True)
class SavedCase:
    """What `flux test add` (and the editor's "Save as regression test") saved."""

    path: str
    """The case file, relative to the project."""
    uri: str
    name: str
    function: str
    subject: str
    """`POST /stripe_webhook  500  req:7c8d9e0f`: the recorded execution the case is about."""
    setup: list[str]
    """The earlier executions it runs first, in the same form."""
    expect: dict[str, JSON]
    rows: int
    """Rows the case starts from."""
    redacted: list[str]
    setup_dropped: int = 0
    """Earlier executions sharing a key that were left out (beyond `SETUP_LIMIT`)."""

    derived: ClassVar[tuple[str, ...]] = ("lines", "summary")

    @property
    def summary(self) -> str:
        """One line for a notification: `Saved tests/flux/x.json — run it with flux test …`."""
        return f"Saved {self.path} — run it with: {self.run_command}"

    @property
    def run_command(self) -> str:
        return f"flux test {self.path}"

    @property
    def lines(self) -> list[str]:
        """What the CLI prints (and the editor shows)."""
        expect = ", ".join(
            f"{k} {v if v is not None else 'none'}"
            for k, v in self.expect.items()
            if k in ("status", "error")
        )
        lines = [f"  Saved {self.path}", f"    subject   {self.subject}  (expects {expect})"]
        lines.extend(f"    setup     {step}" for step in self.setup)
        if self.setup_dropped:
            lines.append(
                f"    setup     … {self.setup_dropped} earlier ones sharing a key left out "
                f"(the newest {SETUP_LIMIT} run first)"
            )
        rows = f"    rows      {self.rows} row{'s' if self.rows != 1 else ''} to start from"
        if self.redacted:
            n = len(self.redacted)
            rows += f" · {n} redacted placeholder{'s' if n != 1 else ''}"
        lines.append(rows)
        lines.append(f"  Run it with: {self.run_command}")
        return lines


def _described(step: Step) -> str:
    return f"{step.target}  {step.status}  {short_id(step.execution_id)}"


async def save_case(
    project: Project,
    store: Store,
    ident: str,
    *,
    name: str | None = None,
    expect: dict[str, JSON] | None = None,
    force: bool = False,
    lookback: float = LOOKBACK,
) -> SavedCase:
    """Capture the case of `ident` and write it under `tests/flux/`."""
    case = await capture_case(project, store, ident, name=name, expect=expect, lookback=lookback)
    path = write_case(project, case, force=force)
    return SavedCase(
        path=project.relative(path),
        uri=path.as_uri(),
        name=case.name,
        function=case.function,
        subject=_described(case.subject),
        setup=[_described(s) for s in case.steps if s is not case.subject],
        expect=case.expect,
        rows=sum(len(r) for r in case.rows.values()),
        redacted=case.redacted,
        setup_dropped=int(case.source.get("setup_dropped") or 0),
    )


def case_path(project: Project, case: Case) -> Path:
    """Where `flux test add` writes a case: `tests/flux/<name>.json` in the project."""
    return project.root / CASES_DIR / f"{slug(case.name)}.json"


def write_case(project: Project, case: Case, *, force: bool = False) -> Path:
    """Write the case file; an existing one is kept unless `force`."""
    path = case_path(project, case)
    if path.exists() and not force:
        raise CaptureError(
            f"{project.relative(path)} already exists: pass --force to replace it, or --name"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dump_case(case), encoding="utf-8")
    return path
