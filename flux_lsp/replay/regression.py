"""Running regression cases (`flux test`, the pytest plugin): replay fed from a case file.

Each case runs on a fresh SQLite app database made from the project's migrations (applied once
per run to a template, then copied per case) plus the case's rows, written with the replay
`Sandbox`'s own row writer. Its steps then run in order through replay's path — the invocation
`rebuild` makes from a recording, of kind `replay`, pointing at the case's step — so the ctx
services behave exactly as in an incident replay: email off, the Stripe check answered from the
recording, `ctx.http` answered from the case's recorded responses (an unmatched call fails the
case), and time, random values and ids fed back. Any other connection is refused
(`replay.guard`) and fails the case, naming what it tried to reach. Nothing is recorded.

A case that cannot run — its file does not parse, its function is gone, the migrations no
longer apply — is an `error` result with the reason; the run goes on.

May import `flux_lsp.model`, `flux_lsp.project`, `flux_lsp.runtime` and the rest of
`flux_lsp.replay`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from flux_lsp.model import JSON, Execution, Mutation
from flux_lsp.project import Project
from flux_lsp.replay.case import Case, CaseError, find_cases, load_case, step_execution
from flux_lsp.replay.expect import Difference, check, error_text, show_value
from flux_lsp.replay.guard import no_network
from flux_lsp.replay.rebuild import replay_invocation
from flux_lsp.replay.sandbox import Sandbox, SandboxStats
from flux_lsp.runtime.context import DbService
from flux_lsp.runtime.database import DatabaseError
from flux_lsp.runtime.functions import FunctionRegistry
from flux_lsp.runtime.http_client import close_client
from flux_lsp.runtime.recording import NullRecorder
from flux_lsp.runtime.runtime import Runtime
from flux_lsp.runtime.sqlite_database import SQLiteDatabase

PASSED, FAILED, ERROR = "passed", "failed", "error"


@dataclass(slots=True)
class StepRun:
    """How a setup step fared (shown when the subject fails: what ran before it)."""

    function: str
    status: str
    error: str | None = None


@dataclass(slots=True)
class CaseResult:
    """One case's outcome."""

    path: str
    name: str
    function: str
    outcome: str
    """`passed`, `failed` (ran, did not meet the expectation) or `error` (could not run)."""
    reason: str | None = None
    """Why a case could not run, or the first difference of a failed one."""
    differences: list[Difference] = field(default_factory=list)
    request: str = ""
    """`POST /stripe_webhook`, or `JOB send_onboarding_email`."""
    status: str | None = None
    """The subject's status in this run."""
    error: str | None = None
    """The subject's error in this run (`Type: message (file:line)`)."""
    body: JSON = None
    """The subject's response body in this run."""
    setup: list[StepRun] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """Rows that could not be written (a table since dropped, a column renamed, ...)."""
    duration_ms: float = 0.0
    made_by: str | None = None
    line: int | None = None
    """For a file that does not parse: the line to look at."""

    @property
    def passed(self) -> bool:
        return self.outcome == PASSED

    def lines(self, where: str | None = None) -> list[str]:
        """`✗  stripe_webhook_7c8d9e0f  POST /stripe_webhook  500  4ms` and, when it did not
        pass, its differences, the error, the response, what ran before it; `where` names the
        file of a case that could not run."""
        if self.outcome == ERROR:
            return [f"  !  {where or self.path}  could not run", f"     └─ {self.reason}"]
        mark = "✔" if self.passed else "✗"
        head = [self.name, self.request, self.status or "", f"{self.duration_ms:.0f}ms"]
        lines = [f"  {mark}  " + "  ".join(p for p in head if p)]
        if self.passed:
            return lines
        lines.extend(f"     {d.text}" for d in self.differences)
        if self.error and not any(d.path == "error" for d in self.differences):
            lines.append(f"     error  {self.error}")
        if self.body is not None and not any(d.path.startswith("body") for d in self.differences):
            lines.append(f"     response  {self.status} {show_value(self.body)}")
        if self.setup:
            ran = ", ".join(f"{s.function} {s.status}" for s in self.setup)
            lines.append(f"     after     {ran}")
        lines.extend(f"     note: {n}" for n in self.notes)
        return lines


@dataclass(slots=True)
class TestSummary:
    cases: int = 0
    passed: int = 0
    failed: int = 0
    errors: int = 0


@dataclass(slots=True)
class TestRun:
    """A whole `flux test` run."""

    project: str
    results: list[CaseResult] = field(default_factory=list)
    summary: TestSummary = field(default_factory=TestSummary)
    duration_ms: float = 0.0
    ok: bool = True
    """Every case passed (and there was at least none failing)."""

    derived: ClassVar[tuple[str, ...]] = ("summary_line",)

    def add(self, result: CaseResult) -> None:
        self.results.append(result)
        self.summary.cases += 1
        if result.outcome == PASSED:
            self.summary.passed += 1
        elif result.outcome == FAILED:
            self.summary.failed += 1
        else:
            self.summary.errors += 1
        self.ok = self.summary.failed == 0 and self.summary.errors == 0

    @property
    def summary_line(self) -> str:
        """`3 cases · 2 passed · 1 failed` (errors when there are some)."""
        s = self.summary
        parts = [f"{s.cases} case{'s' if s.cases != 1 else ''}", f"{s.passed} passed"]
        parts.append(f"{s.failed} failed")
        if s.errors:
            parts.append(f"{s.errors} could not run")
        return " · ".join(parts)


def _row_writes(rows: dict[str, list[dict[str, JSON]]]) -> list[Mutation]:
    """The case's rows as inserts, for the sandbox's writer."""
    writes: list[Mutation] = []
    for table, table_rows in rows.items():
        for row in table_rows:
            pk = row.get("id")
            writes.append(
                Mutation(
                    execution_id="case",
                    seq=len(writes),
                    table=table,
                    op="insert",
                    pk=str(pk) if pk is not None else "",
                    before=None,
                    after=row,
                    rows_affected=1,
                    at=0.0,
                )
            )
    return writes


def renamed_ids(recorded: dict[str, list[str]], run: Execution) -> dict[str, str]:
    """Recorded id → the id this run's insert got instead (by table and position)."""
    got: dict[str, list[str]] = {}
    for m in run.mutations:
        if m.op == "insert" and m.pk is not None:
            got.setdefault(m.table, []).append(m.pk)
    return {
        old: new
        for table, olds in recorded.items()
        for old, new in zip(olds, got.get(table, []), strict=False)
        if old != new
    }


def follow_ids(value: JSON, ids: dict[str, str]) -> JSON:
    """`value` with recorded ids replaced by the ones this run generated."""
    if not ids:
        return value
    if isinstance(value, dict):
        return {k: follow_ids(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [follow_ids(v, ids) for v in value]
    if isinstance(value, str):
        return ids.get(value, value)
    return value


def _scratch() -> str | None:
    """A memory-backed folder for the per-case databases when the system has one (they are
    written, read once and deleted: a disk's sync and unlink costs would dominate a case)."""
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


class CaseRunner:
    """Runs cases for one project: one runtime (the loaded functions, the redactor, the code
    version) and one migrated template database serve every case; each case gets a copy."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.folder = Path(tempfile.mkdtemp(prefix="flux-test-", dir=_scratch()))
        self.template = self.folder / "template.db"
        self.registry = FunctionRegistry(project.functions_dir, project_root=project.root)
        self.migration_error: str | None = None
        self.runtime: Runtime | None = None
        self._count = 0
        self._prepared = False

    async def _prepare(self) -> None:
        """Migrate the template database once (cases run on SQLite copies of it, whatever
        database the project serves from)."""
        if self._prepared:
            return
        self._prepared = True
        template = SQLiteDatabase(self.template)
        try:
            runtime = Runtime(
                self.project, NullRecorder(), database=template, registry=self.registry
            )
            await runtime.start()
            await template.query(None, "PRAGMA wal_checkpoint(TRUNCATE)")
            self.runtime = runtime
        except DatabaseError as exc:
            self.migration_error = f"the migrations no longer apply: {exc}"
        finally:
            await template.close()

    async def close(self) -> None:
        if self.runtime is not None:
            with contextlib.suppress(Exception):
                await close_client(self.runtime)
        self.registry.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def _error(self, case: Case, reason: str, started: float) -> CaseResult:
        return CaseResult(
            path=case.path or "",
            name=case.name,
            function=case.function,
            outcome=ERROR,
            reason=reason,
            request=case.subject.target,
            made_by=case.made_by,
            duration_ms=(time.perf_counter() - started) * 1000.0,
        )

    async def run(self, case: Case) -> CaseResult:
        """Run one case on a fresh database."""
        started = time.perf_counter()
        await self._prepare()
        runtime = self.runtime
        if runtime is None:
            return self._error(case, self.migration_error or "no runtime", started)
        for step in case.steps:
            if not self.registry.exists(step.function):
                where = self.project.relative(self.registry.path_of(step.function))
                return self._error(
                    case, f"function {step.function} no longer exists ({where})", started
                )
        self._count += 1
        box = self.folder / f"case{self._count}"
        box.mkdir()
        shutil.copyfile(self.template, box / "app.db")
        sandbox = Sandbox.on(SQLiteDatabase(box / "app.db"), SandboxStats())
        try:
            await sandbox.redo(_row_writes(case.rows))
            # The runtime's services read `runtime.database` at each call: this case's copy.
            runtime.database = sandbox.database
            runtime.db_service = DbService(sandbox.database)
            setup: list[StepRun] = []
            subject: Execution | None = None
            ids: dict[str, str] = {}
            refused: list[str] = []
            for step in case.steps:
                original = step_execution(step)
                original.request = follow_ids(original.request, ids)
                invocation = await replay_invocation(runtime, original)
                with no_network() as guard:  # a connection outside ctx.http fails the step
                    execution = (await runtime.run(invocation)).execution
                refused.extend(guard.attempts)
                ids.update(renamed_ids(step.inserted, execution))
                if step is case.subject:
                    subject = execution
                else:
                    setup.append(StepRun(step.function, execution.status, error_text(execution)))
            assert subject is not None
        finally:
            await sandbox.close()
        differences = check(follow_ids(case.expect, ids), case.noise, subject)
        # Never a silent pass, even when the handler caught the refusal (or its HTTP client
        # reworded it): the case names what it tried to reach.
        differences.extend(
            Difference("network", None, f"{where} (a connection outside ctx.http)", unexpected=True)
            for where in dict.fromkeys(refused)
        )
        return CaseResult(
            path=case.path or "",
            name=case.name,
            function=case.function,
            outcome=FAILED if differences else PASSED,
            reason=differences[0].text if differences else None,
            differences=differences,
            request=case.subject.target,
            status=subject.status,
            error=error_text(subject),
            body=subject.response.get("body") if subject.kind != "job" else None,
            setup=setup,
            notes=list(sandbox.stats.warnings),
            duration_ms=(time.perf_counter() - started) * 1000.0,
            made_by=case.made_by,
        )


async def run_case(project: Project, case: Case) -> CaseResult:
    """Run one case on its own (the pytest plugin runs each item so)."""
    runner = CaseRunner(project)
    try:
        return await runner.run(case)
    finally:
        await runner.close()


def unreadable(path: Path, error: CaseError) -> CaseResult:
    """The result of a case file that cannot be read."""
    return CaseResult(
        path=str(path),
        name=path.stem,
        function="",
        outcome=ERROR,
        reason=str(error),
        line=error.line,
    )


async def run_cases(
    project: Project,
    paths: list[Path],
    *,
    progress: Callable[[CaseResult], None] | None = None,
) -> TestRun:
    """Run every case file under `paths` (files or folders), in name order."""
    started = time.perf_counter()
    report = TestRun(project=str(project.root))
    runner = CaseRunner(project)
    try:
        for path in find_cases(paths):
            try:
                case = load_case(path)
            except CaseError as exc:
                result = unreadable(path, exc)
            else:
                result = await runner.run(case)
            report.add(result)
            if progress is not None:
                progress(result)
    finally:
        await runner.close()
    report.duration_ms = (time.perf_counter() - started) * 1000.0
    return report
