"""Debugging one recorded execution: its replay, run under debugpy in this process.

`debug_one` re-runs a recorded request or job exactly as `replay_one` does (the sandbox of
the data as it was, email off, Stripe checks skipped, HTTP answered from the recording, time,
random values and ids fed back, current code or unsaved buffers) but first opens a Debug
Adapter Protocol endpoint with debugpy on loopback, announces it, and waits for a client:
initialize, attach, setBreakpoints, configurationDone; then the request runs. With
`stop_at_failure` the recorded failing line holds a breakpoint of its own, which stays when
the client changes the breakpoints of that file. The session ends with the request: the
debugger detaches (debugpy's adapter tells the client the session terminated) and the
`ReplayReport` is returned.

Debug sessions are not recorded: what a debug console evaluates is not the code's doing.
The debug console can evaluate anything, so the port is bound to 127.0.0.1 only, and only
for local recorders. May import `flux_lsp.model`, `flux_lsp.project`, `flux_lsp.runtime`,
`flux_lsp.recorder` and the rest of `flux_lsp.replay`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import import_module
from typing import Any

from flux_lsp.model import Execution, short_id
from flux_lsp.project import Project
from flux_lsp.recorder.store import Store
from flux_lsp.replay.engine import one_report, resolve_original, session_for
from flux_lsp.replay.report import ReplayReport
from flux_lsp.runtime.recording import NullRecorder

HOST = "127.0.0.1"
"""The only address a debug session listens on."""
FAILURE_BREAKPOINT_ID = 1_000_000_000
"""The id of the breakpoint on the recorded failing line (client breakpoints count from 0)."""


class DebugError(Exception):
    """A debug session that cannot start; the message is one line for the user."""


@dataclass(slots=True)
class StopAt:
    """Where `--stop-at-failure` stops: the recorded failing line."""

    file: str
    """Absolute path of the file, as the debugger names it."""
    line: int


@dataclass(slots=True)
class DebugEndpoint:
    """Where the DAP client attaches, printed as the session's first line."""

    host: str
    port: int
    pid: int
    execution_id: str
    short_id: str
    label: str
    """`POST /stripe_webhook` or `JOB send_onboarding_email`."""
    stop_at: StopAt | None


def remote_refusal(location: str) -> str:
    """The one line a debug session against a `flux serve` server answers."""
    return (
        f"cannot debug executions of the server at {location}: a debug session runs on this "
        "machine only; open the project whose recorder holds the execution"
    )


def check_port(port: int) -> None:
    """Fail with one line when `port` is taken on loopback (0: any free port, always fine)."""
    if port == 0:
        return
    if not 0 < port < 65536:
        raise DebugError(f"bad port {port}: expected 1–65535, or leave --port out for a free one")
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        probe.bind((HOST, port))
    except OSError as exc:
        reason = "in use" if exc.errno == errno.EADDRINUSE else exc.strerror or str(exc)
        raise DebugError(
            f"port {port} on {HOST} is {reason}: choose another with --port, "
            "or leave --port out for a free one"
        ) from None
    finally:
        probe.close()


def stop_at_failure(project: Project, original: Execution) -> StopAt | None:
    """The recorded failing line in user code, if the recording failed with one."""
    location = original.error.location if original.error else None
    if location is None:
        return None
    return StopAt(str((project.root / location.file).resolve()), location.line)


def _label(original: Execution) -> str:
    if original.kind == "job":
        return f"JOB {original.function}"
    return f"{original.method} {original.path}"


def _listen(port: int) -> tuple[str, int]:
    """Start debugpy's adapter on loopback; returns the endpoint clients connect to."""
    # Frozen standard-library modules only hide breakpoints in the standard library.
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    import debugpy

    debugpy.configure(subProcess=False)
    try:
        with _adapter_quiet():
            host, bound = debugpy.listen((HOST, port))
    except (RuntimeError, OSError) as exc:
        raise DebugError(f"cannot listen on {HOST}:{port}: {exc}") from None
    return str(host), int(bound)


@contextlib.contextmanager
def _adapter_quiet() -> Iterator[None]:
    """Give the adapter process debugpy starts /dev/null for stdout and stderr: it outlives
    this process by a moment, and must not hold the pipes of whoever reads our output."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (null, *saved):
            os.close(fd)


def _hold_breakpoint(stop: StopAt) -> None:
    """Put a breakpoint on the failing line, and put it back whenever the client resets the
    breakpoints of a file (a DAP `setBreakpoints` replaces all of a file's breakpoints) until
    it has been reached. A client that disconnects (all breakpoints removed) takes it along.

    It stops on the first hit only: a line that awaits is hit again when its coroutine resumes.
    """
    api_module: Any = import_module("_pydevd_bundle.pydevd_api")
    pydevd: Any = import_module("pydevd")
    py_db = pydevd.get_global_debugger()
    api_class = api_module.PyDevdAPI
    api = api_class()
    held: list[Any] = []

    def add() -> None:
        api.add_breakpoint(
            py_db,
            stop.file,
            "python-line",
            FAILURE_BREAKPOINT_ID,
            stop.line,
            condition=None,
            func_name="None",
            expression=None,
            suspend_policy="NONE",
            hit_condition="@HIT@ == 1",
            is_logpoint=None,
        )
        held[:] = [
            bp
            for lines in py_db.breakpoints.values()
            for bp in lines.values()
            if bp.breakpoint_id == FAILURE_BREAKPOINT_ID
        ]

    def reached() -> bool:
        return any(getattr(bp, "_hit_count", 0) > 0 for bp in held)

    replace_all = api_class.remove_all_breakpoints

    def remove_all_breakpoints(self: Any, db: Any, received_filename: str) -> None:
        replace_all(self, db, received_filename)
        if received_filename != "*" and not reached():
            add()

    api_class.remove_all_breakpoints = remove_all_breakpoints
    add()


async def debug_one(
    project: Project,
    store: Store,
    ident: str,
    *,
    port: int = 0,
    stop: bool | None = None,
    overlay: dict[str, str] | None = None,
    announce: Callable[[DebugEndpoint], None],
) -> ReplayReport:
    """Re-run one recorded execution under debugpy; returns how it fared.

    `announce` is called once the DAP endpoint listens, before waiting for the client.
    `stop` (default: whether the recording failed) stops at the recorded failing line.
    """
    check_port(port)
    original = await resolve_original(store, ident)
    report = one_report(original, overlay)
    target = stop_at_failure(project, original) if stop or stop is None else None
    if stop and target is None:
        raise DebugError(f"{short_id(original.id)} has no recorded failing line to stop at")
    async with session_for(
        project, store, original, overlay=overlay, recorder=NullRecorder()
    ) as session:
        if not session.runtime.registry.exists(original.function):
            raise DebugError(
                f"cannot debug {short_id(original.id)}: function {original.function} no longer "
                "exists in the code (deleted or renamed since it was recorded)"
            )
        report.code_version = session.runtime.code_version
        host, bound = _listen(port)
        announce(
            DebugEndpoint(
                host,
                bound,
                os.getpid(),
                original.id,
                short_id(original.id),
                _label(original),
                target,
            )
        )
        import debugpy

        debugpy.wait_for_client()
        if target is not None:
            _hold_breakpoint(target)
        try:
            report.add(await session.replay(original))
        finally:
            _detach()
        report.sandbox = session.sandbox.stats
    return report


def _detach() -> None:
    """End the debug session once the request has run: what the process does afterwards (exit
    with 1 when it still fails) is not the user's code, and must not stop the debugger as an
    uncaught SystemExit."""
    pydevd: Any = import_module("pydevd")
    pydevd.stoptrace()
