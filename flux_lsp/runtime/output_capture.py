"""What a handler prints or logs, kept in its execution record.

`print()` (to `sys.stdout` or `sys.stderr`) and the `logging` records that reach the root
logger are added to the running execution's `Trace` as `LogEntry` lines, one per line of
text, with the time since the execution started. Outside an execution nothing changes. A live
run still prints to the console as well; a replay's output is only recorded (the language
server and the MCP server talk over stdout, and a replay must not write into that).

Capture is bounded: at most `MAX_ENTRIES` lines and `MAX_CHARS` characters per execution, each
line cut at `MAX_LINE`; what is left out is counted in `Execution.logs_cut`. It never raises
into the handler: a failure to capture is a lost line, not a failed request. Redaction happens
with the rest of the record (`Redactor.execution`).

`ensure_installed()` puts the stream wrappers and the logging handler in place; the runtime
calls it before each run (an identity check when nothing moved them).

May import `flux_lsp.model` and `flux_lsp.runtime.inflight`.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

from flux_lsp.model import LogEntry
from flux_lsp.runtime.inflight import Trace, current_trace

MAX_ENTRIES = 200
MAX_CHARS = 16_000
MAX_LINE = 2_000
FUNCTIONS_LOGGER = "flux_functions"
"""The logger of `logging.getLogger(__name__)` in a function file (modules are
`flux_functions.<name>`); set to INFO so a handler's `log.info` is kept."""


class OutputCapture:
    """The lines one execution printed and logged so far, and what was left out."""

    __slots__ = ("chars", "cut", "entries", "pending")

    def __init__(self) -> None:
        self.entries: list[LogEntry] = []
        self.chars = 0
        self.cut = 0
        self.pending: dict[str, str] = {}
        """Text printed to a stream without its newline yet."""

    def add(
        self,
        trace: Trace,
        stream: str,
        message: str,
        level: str | None = None,
        logger: str | None = None,
    ) -> None:
        if len(self.entries) >= MAX_ENTRIES or self.chars >= MAX_CHARS:
            self.cut += len(message)
            return
        if len(message) > MAX_LINE:
            self.cut += len(message) - MAX_LINE
            message = message[:MAX_LINE] + "…"
        room = MAX_CHARS - self.chars
        if len(message) > room:
            self.cut += len(message) - room
            message = message[:room] + "…"
        self.chars += len(message)
        self.entries.append(LogEntry(trace.elapsed_ms(), stream, message, level, logger))

    def write(self, trace: Trace, stream: str, text: str) -> None:
        text = self.pending.pop(stream, "") + text
        if "\n" not in text:
            if len(text) > MAX_LINE:  # a very long line without a newline: keep what fits
                self.add(trace, stream, text)
            elif text:
                self.pending[stream] = text
            return
        complete, _, rest = text.rpartition("\n")
        for line in complete.split("\n"):
            self.add(trace, stream, line)
        if rest:
            self.pending[stream] = rest

    def finish(self, trace: Trace) -> tuple[list[LogEntry], int]:
        """The lines (with any unfinished one) and the count of characters left out."""
        for stream, text in list(self.pending.items()):
            self.add(trace, stream, text)
        self.pending.clear()
        return self.entries, self.cut


def capture_of(trace: Trace) -> OutputCapture:
    output = trace.output
    if output is None:
        output = trace.output = OutputCapture()
    return output


class _CapturingStream:
    """Stands in for sys.stdout / sys.stderr: copies what a running execution writes."""

    def __init__(self, wrapped: TextIO, name: str) -> None:
        self._wrapped = wrapped
        self._name = name

    def write(self, text: str) -> int:
        trace = current_trace.get()
        if trace is None:
            return self._wrapped.write(text)
        try:
            # a logging handler writing to this stream: its record is captured already
            if sys._getframe(1).f_globals.get("__name__") != "logging":
                capture_of(trace).write(trace, self._name, str(text))
        except Exception:  # capture never breaks a request
            pass
        if trace.original is not None:  # a replay: recorded, not printed
            return len(text)
        return self._wrapped.write(text)

    def flush(self) -> None:
        self._wrapped.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._wrapped, name)


class _CapturingHandler(logging.Handler):
    """A root-logger handler that keeps records emitted while an execution runs."""

    def emit(self, record: logging.LogRecord) -> None:
        trace = current_trace.get()
        if trace is None:
            return
        try:
            message = record.getMessage()
            if record.exc_info and record.exc_info[1] is not None:
                exc = record.exc_info[1]
                message += f" ({type(exc).__name__}: {exc})"
            capture_of(trace).add(trace, "log", message, record.levelname, record.name)
        except Exception:  # capture never breaks a request
            pass


_handler = _CapturingHandler(logging.INFO)


def ensure_installed() -> None:
    """Wrap sys.stdout and sys.stderr and attach the logging handler, unless already done.

    Runs before every execution: when nothing moved them it is three checks (about 0.2 µs)."""
    stdout, stderr = sys.stdout, sys.stderr
    if (
        type(stdout) is _CapturingStream
        and type(stderr) is _CapturingStream
        and _handler in logging.root.handlers
    ):
        return
    if type(stdout) is not _CapturingStream and stdout is not None:
        sys.stdout = _CapturingStream(stdout, "stdout")
    if type(stderr) is not _CapturingStream and stderr is not None:
        sys.stderr = _CapturingStream(stderr, "stderr")
    if _handler not in logging.root.handlers:
        logging.root.addHandler(_handler)
        functions = logging.getLogger(FUNCTIONS_LOGGER)
        if functions.level == logging.NOTSET:
            functions.setLevel(logging.INFO)


def finish(trace: Trace) -> tuple[list[LogEntry], int]:
    """What `trace`'s execution printed and logged, and how many characters were cut."""
    output = trace.output
    if output is None:
        return [], 0
    return output.finish(trace)
