"""Running one function and turning the run into an `Execution` record.

`Runtime` holds what every execution shares (the project, the app database, the loaded
functions, the redactor and the recorder sink) and `Runtime.run` is the one code path every
kind of execution goes through: HTTP requests from the gateway, jobs from the worker, and
replays. It opens the root and function spans, calls the handler, captures the error and its
location, closes the response span, redacts, and hands the record over.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.responses import JSONResponse, PlainTextResponse, Response

from flux_lsp.model import (
    INPUT_IS_REQUEST_BODY,
    JSON,
    ErrorInfo,
    Execution,
    new_execution_id,
    new_trace_id,
)
from flux_lsp.project import Project
from flux_lsp.runtime.bodies import decode_body
from flux_lsp.runtime.catalog import Catalog, load_catalog
from flux_lsp.runtime.context import Ctx, DbService
from flux_lsp.runtime.database import AppDatabase, DatabaseBusy, open_database
from flux_lsp.runtime.error_capture import (
    HTTPError,
    capture_error,
    locate_returned_error,
    source_location,
)
from flux_lsp.runtime.functions import FunctionLoadError, FunctionRegistry, LoadProblem
from flux_lsp.runtime.inflight import Trace, current_trace, relative_path
from flux_lsp.runtime.output_capture import ensure_installed as ensure_output_capture
from flux_lsp.runtime.output_capture import finish as finish_output
from flux_lsp.runtime.recording import Recorder
from flux_lsp.runtime.redaction import Redactor
from flux_lsp.runtime.services import apply_service_schema, standard_services
from flux_lsp.runtime.tracecontext import TraceContext


def to_response(result: Any) -> Response:
    """What a handler returned, as a Starlette response."""
    if isinstance(result, Response):
        return result
    if result is None:
        return Response(status_code=204)
    if isinstance(result, str):
        return PlainTextResponse(result)
    return JSONResponse(result)


@dataclass(slots=True)
class Invocation:
    """What to run, and how to describe it in the record."""

    kind: str
    function: str
    argument: Any
    """The handler's first argument: the request, or the job."""
    method: str
    path: str
    request: dict[str, JSON]
    function_input: JSON = None
    root_span: str = "gateway"
    parent_id: str | None = None
    execution_id: str = field(default_factory=new_execution_id)
    original: Execution | None = None
    """Set when replaying: the recorded execution; services answer from it."""
    job: dict[str, JSON] | None = None
    refused: HTTPError | None = None
    """Set when the gateway refused the request before any handler (a 413 body, say): the run
    answers and records that error instead of calling the function."""
    trace: TraceContext | None = None
    """The W3C trace to join (from `traceparent`); None starts a new one."""
    trace_link: dict[str, JSON] | None = None
    """For a job: the trace and span of the execution that enqueued it."""

    @property
    def runs_job(self) -> bool:
        """A job run: a queue job, or the replay of one (status `done`/`failed`, no response)."""
        return self.kind == "job" or (self.original is not None and self.original.kind == "job")


@dataclass(frozen=True, slots=True)
class LoadedCode:
    """One version of a project's code: what a run uses from its start to its end.

    `Runtime.reload` (flux dev) and `Runtime.swap_code` (a flux serve deployment) replace it
    whole, so a run that is awaiting while the code changes still finishes, and is recorded,
    on the version it started with.
    """

    project: Project
    registry: FunctionRegistry
    redactor: Redactor
    version: str
    user_root: tuple[str, ...]
    """Path prefixes of the project's own code: functions/ and the shared lib/."""
    project_root: str

    @classmethod
    def of(cls, project: Project, registry: FunctionRegistry) -> LoadedCode:
        settings = project.settings
        return cls(
            project=project,
            registry=registry,
            redactor=Redactor(settings.redact_headers, settings.redact_keys),
            version=project.code_version(registry.overlay),
            user_root=(str(registry.functions_dir) + "/", str(project.shared_dir) + "/"),
            project_root=str(project.root),
        )

    def relative(self, filename: str) -> str:
        return relative_path(filename, self.project_root)

    def capture(self, exc: BaseException) -> ErrorInfo:
        """The ErrorInfo of an exception raised by this version's user code."""
        return capture_error(exc, self.user_root, self.project_root, self.redactor)

    def load_error(self, problem: LoadProblem) -> ErrorInfo:
        """The ErrorInfo of a function that cannot load: located at the problem's line."""
        filename = str(self.project.root / problem.file)
        location = source_location(
            filename, problem.file, problem.line, problem.column, None, None, None
        )
        return ErrorInfo(
            type="LoadError", message=str(problem), location=location, frames=[location]
        )


@dataclass(slots=True)
class RunResult:
    execution: Execution
    response: Response | None
    exception: BaseException | None = None


class Runtime:
    """Shared state of a running Flux app and the single path through which functions run."""

    def __init__(
        self,
        project: Project,
        recorder: Recorder,
        *,
        database: AppDatabase | None = None,
        registry: FunctionRegistry | None = None,
        check_mtime: bool = False,
    ) -> None:
        self.recorder = recorder
        self.database: AppDatabase = database or open_database(project)
        self._started = False
        self.code = LoadedCode.of(
            project,
            registry
            or FunctionRegistry(
                project.functions_dir, project_root=project.root, check_mtime=check_mtime
            ),
        )
        self.db_service = DbService(self.database)
        self.record_failures = 0
        """The trace ids of recent executions, so a job links to its enqueuer's trace."""

    async def start(self) -> list[str]:
        """Open the app database, apply pending migrations and the services' tables (once;
        the gateway's lifespan calls it). Returns the migrations applied."""
        if self._started:
            return []
        await self.database.open()
        applied = await self.database.apply_migrations(self.project.migrations_dir)
        await apply_service_schema(self.database)
        self._started = True
        return applied

    async def stop(self) -> None:
        """Close the app database (its pool or its connection)."""
        self._started = False
        await self.database.close()

    # What the current code version provides, for readers outside a run.
    @property
    def project(self) -> Project:
        return self.code.project

    @property
    def registry(self) -> FunctionRegistry:
        return self.code.registry

    @property
    def redactor(self) -> Redactor:
        return self.code.redactor

    @property
    def code_version(self) -> str:
        return self.code.version

    def catalog(self) -> Catalog:
        """Import every function now and say which load (`flux dev`/`flux serve` at start)."""
        return load_catalog(self.registry)

    async def reload(self, project: Project | None = None) -> list[str]:
        """Pick up changed function files and new migrations (used by `flux dev`), and the
        settings of `project` when `flux.toml` or `.env` changed."""
        self.registry.invalidate()
        project = project or self.project
        applied = await self.database.apply_migrations(project.migrations_dir)
        self.code = LoadedCode.of(project, self.registry)
        return applied

    async def swap_code(self, project: Project, registry: FunctionRegistry) -> list[str]:
        """Switch to another version of the code (a `flux serve` deployment).

        Applies the new version's pending migrations first (a failure raises and changes
        nothing else), then swaps project, functions, redactor and code version in one step:
        runs already in flight finish on the code they started with, later runs use the new.
        """
        applied = await self.database.apply_migrations(project.migrations_dir)
        self.code = LoadedCode.of(project, registry)
        return applied

    def make_ctx(self, code: LoadedCode, trace: Trace) -> Ctx:
        """The `ctx` of one run: services read the project, functions and redactor from `code`."""
        return Ctx(trace, self.db_service, standard_services(self, code, trace))

    async def run(self, inv: Invocation) -> RunResult:
        """Run one invocation end to end and record it. Never raises for handler errors."""
        code = self.code  # one version for the whole run, whatever is swapped in meanwhile
        ensure_output_capture()
        trace = Trace(inv.execution_id, code.user_root, code.project_root, inv.original)
        context = inv.trace or TraceContext(new_trace_id())
        trace.trace_id = context.trace_id
        trace.trace_state = context.trace_state
        token = current_trace.set(trace)
        root = trace.open_span(inv.root_span)
        root.input = f"{inv.method} {inv.path}" if not inv.runs_job else inv.function
        error: ErrorInfo | None = None
        exception: BaseException | None = None
        result: Any = None
        status_code: int | None = None
        load_problem: LoadProblem | None = None
        try:
            if inv.refused is not None:
                raise inv.refused
            try:
                loaded = code.registry.get(inv.function)
            except FunctionLoadError as exc:
                load_problem = exc.problem
                raise RuntimeError(str(exc)) from None
            if loaded is None:
                raise LookupError(f"function no longer exists: {inv.function}")
            ctx = self.make_ctx(code, trace)
            with trace.span(
                "function", {"code.function.name": inv.function}, call_site=False
            ) as fn:
                fn.file = code.relative(str(loaded.path))
                fn.line = loaded.handler.__code__.co_firstlineno
                fn.input = inv.function_input
                result = await loaded.handler(inv.argument, ctx)
                fn.output = _summary(result)
        except HTTPError as exc:
            exception = exc
            status_code = exc.status
            error = code.capture(exc)
            error.type = "ValidationError" if exc.status in (400, 422) else type(exc).__name__
        except Exception as exc:  # the handler's failure is the record's subject, not ours
            exception = exc
            status_code = 503 if isinstance(exc, DatabaseBusy) else 500
            error = code.load_error(load_problem) if load_problem else code.capture(exc)
        finally:
            current_trace.reset(token)

        response: Response | None = None
        resp_span = trace.open_span("response")
        if inv.runs_job:
            status = "failed" if exception else "done"
            if exception:
                resp_span.status = "skipped"
        else:
            if exception is None:
                try:
                    response = to_response(result)
                except Exception as exc:  # e.g. a dict that is not JSON-serialisable
                    exception = exc
                    status_code = 500
                    error = code.capture(exc)
            if exception is not None:
                resp_span.status = "skipped"
                response = JSONResponse(
                    {
                        "error": error.message if error else "internal error",
                        "request_id": trace.execution_id,
                    },
                    status_code=status_code or 500,
                )
            assert response is not None
            response.headers["x-flux-request-id"] = trace.execution_id
            if isinstance(exception, DatabaseBusy):
                response.headers["retry-after"] = str(exception.retry_after)
            status = str(response.status_code)
        response_record = _response_record(response, code.project.settings.recorder.max_value)
        if exception is None and response is not None and response.status_code >= 400:
            error = _returned_error(code, inv.function, response_record)
        trace.close_span(resp_span)
        resp_span.output = {"status": status}
        trace.close_span(root)
        root.output = {"status": status}
        logs, logs_cut = finish_output(trace)
        if exception is not None and root.status == "ok":
            root.status = "error"
            root.error = error.message if error else str(exception)
        execution = Execution(
            id=trace.execution_id,
            kind=inv.kind,
            function=inv.function,
            method=inv.method,
            path=inv.path,
            status=status,
            started_at=trace.started_at,
            duration_ms=trace.elapsed_ms(),
            request=inv.request,
            response=response_record,
            error=error,
            spans=trace.spans,
            mutations=trace.mutations,
            code_version=code.version,
            parent_id=inv.parent_id,
            ctx_values=trace.ctx_values,
            job=inv.job,
            logs=logs,
            logs_cut=logs_cut,
            trace_id=context.trace_id,
            trace_parent=context.parent_span_id,
            trace_state=context.trace_state,
            trace_link=inv.trace_link,
        )
        # The function's input is the request body: stored once, in the request, and read back
        # into the span by `Execution.from_dict`.
        fn_span = next((s for s in execution.spans if s.name == "function"), None)
        shared = fn_span is not None and inv.function_input is inv.request.get("body") is not None
        code.redactor.execution(execution)
        if shared:
            assert fn_span is not None
            fn_span.input, fn_span.attributes[INPUT_IS_REQUEST_BODY] = None, True
        try:
            self.recorder.record(execution)
        except Exception:  # recording never breaks the app
            self.record_failures += 1
        if shared:
            assert fn_span is not None
            fn_span.input = execution.request.get("body")
            del fn_span.attributes[INPUT_IS_REQUEST_BODY]
        return RunResult(execution, response, exception)


def _returned_error(code: LoadedCode, function: str, response: dict[str, JSON]) -> ErrorInfo:
    """ErrorInfo for a 4xx/5xx a handler returned instead of raising (its recorded response)."""
    body = response.get("body")
    message = ""
    if isinstance(body, dict):
        message = str(body.get("error") or body.get("message") or "")
    elif isinstance(body, str):
        message = body
    path = str(code.registry.path_of(function))
    location = locate_returned_error(path, code.relative(path), message)
    status = int(response["status"])
    kind = (
        "ValidationError"
        if status in (400, 422)
        else ("ClientError" if status < 500 else "ServerError")
    )
    return ErrorInfo(
        type=kind,
        message=message or f"HTTP {status}",
        location=location,
        frames=[location] if location else [],
    )


def _summary(value: Any) -> JSON:
    if isinstance(value, Response):
        return {"status": value.status_code}
    if isinstance(value, (dict, list, str, int, float, bool)) or value is None:
        return value
    return repr(value)[:200]


def _response_record(response: Response | None, cap: int) -> dict[str, JSON]:
    if response is None:
        return {}
    body = b""
    if hasattr(response, "body") and isinstance(response.body, (bytes, bytearray, memoryview)):
        body = bytes(response.body)
    return {
        "status": response.status_code,
        "headers": {k: v for k, v in response.headers.items() if k.lower() != "set-cookie"},
        "body": decode_body(body, cap),
    }
