"""The in-flight record of one execution: its spans, mutations and the values it took from ctx.

A `Trace` is created when an execution starts and turned into an `Execution` when it ends.
Spans are cheap on purpose (one small object, two clock reads and a list append): the
recording-overhead benchmark holds them to a third of an OpenTelemetry SDK span. The current
trace and span travel in context variables, so concurrent tasks inside one handler nest their
spans correctly.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from contextvars import ContextVar, Token
from types import TracebackType
from typing import TYPE_CHECKING, Any

from flux_lsp.model import JSON, Execution, Mutation, Span

if TYPE_CHECKING:
    from flux_lsp.runtime.output_capture import OutputCapture

current_trace: ContextVar[Trace | None] = ContextVar("flux_trace", default=None)
_current_span: ContextVar[int | None] = ContextVar("flux_span", default=None)

_CALL_SITE_DEPTH = 12


class Trace:
    """Spans, mutations and ctx values collected while one execution runs."""

    __slots__ = (
        "_replayed_values",
        "_t0",
        "ctx_values",
        "execution_id",
        "mutations",
        "original",
        "output",
        "project_root",
        "spans",
        "started_at",
        "trace_id",
        "trace_state",
        "user_root",
    )

    def __init__(
        self,
        execution_id: str,
        user_root: str | tuple[str, ...],
        project_root: str,
        original: Execution | None = None,
    ) -> None:
        self.execution_id = execution_id
        self.user_root = user_root
        self.project_root = project_root
        self.started_at = time.time()
        self._t0 = time.perf_counter()
        self.spans: list[Span] = []
        self.mutations: list[Mutation] = []
        self.ctx_values: list[JSON] = []
        self.original = original
        """The recorded execution being replayed, or None when running live."""
        self._replayed_values = list(original.ctx_values) if original is not None else None
        self.output: OutputCapture | None = None
        """What the handler printed and logged (`output_capture.OutputCapture`), once it has."""
        self.trace_id = ""
        """The W3C trace id (set by the runtime when the run starts)."""
        self.trace_state: str | None = None

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self._t0) * 1000.0

    def open_span(self, name: str, attributes: dict[str, JSON] | None = None) -> Span:
        """Start a span under the current one; close it with `close_span`."""
        span = Span(
            id=len(self.spans),
            name=name,
            parent=_current_span.get(),
            start_ms=(time.perf_counter() - self._t0) * 1000.0,
            attributes=attributes if attributes is not None else {},
        )
        self.spans.append(span)
        return span

    def close_span(self, span: Span, error: BaseException | None = None) -> None:
        span.duration_ms = (time.perf_counter() - self._t0) * 1000.0 - span.start_ms
        if error is not None:
            span.status = "error"
            span.error = str(error) or type(error).__name__

    def span(
        self, name: str, attributes: dict[str, JSON] | None = None, *, call_site: bool = True
    ) -> SpanScope:
        """A span around a `with` block; records the user-code call site and any exception."""
        span = self.open_span(name, attributes)
        if call_site:
            self.set_call_site(span)
        return SpanScope(self, span)

    def set_call_site(self, span: Span) -> None:
        """Point the span at the innermost frame in user code that led to it."""
        frame = sys._getframe(1)
        root = self.user_root
        for _ in range(_CALL_SITE_DEPTH):
            if frame is None:
                return
            filename = frame.f_code.co_filename
            if filename.startswith(root):
                span.file = relative_path(filename, self.project_root)
                span.line = frame.f_lineno
                return
            frame = frame.f_back  # type: ignore[assignment]

    def add_mutation(self, mutation: Mutation) -> None:
        self.mutations.append(mutation)

    def next_mutation_seq(self) -> int:
        return len(self.mutations)

    @property
    def replaying(self) -> bool:
        return self.original is not None

    def take_value(self, produce: Callable[[], Any]) -> Any:
        """A nondeterministic value (time, random, id): replayed when replaying, else recorded."""
        index = len(self.ctx_values)
        if self._replayed_values is not None and index < len(self._replayed_values):
            value = self._replayed_values[index]
        else:
            value = produce()
        self.ctx_values.append(value)
        return value


class SpanScope:
    """The `with` block of one open span: current while the block runs, closed when it ends."""

    __slots__ = ("_span", "_token", "_trace")

    def __init__(self, trace: Trace, span: Span) -> None:
        self._trace = trace
        self._span = span
        self._token: Token[int | None] | None = None

    def __enter__(self) -> Span:
        self._token = _current_span.set(self._span.id)
        return self._span

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._token is not None:
            _current_span.reset(self._token)
        self._trace.close_span(self._span, exc)


def relative_path(filename: str, project_root: str) -> str:
    if filename.startswith(project_root):
        return filename[len(project_root) :].lstrip("/\\").replace("\\", "/")
    return filename


def require_trace() -> Trace:
    """The trace of the execution running now; ctx services call this."""
    trace = current_trace.get()
    if trace is None:
        raise RuntimeError("Flux ctx services can only be used while a function is running")
    return trace
