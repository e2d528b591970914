"""Debug sessions the editor starts: each a `flux debug --json` process of its own.

A debugger that stops the request must block nothing else, so the language server never runs
the request itself: it starts `python -m flux_lsp debug <id> --json --buffers-from-stdin`,
hands it the unsaved function files, and answers `flux.debug` with the endpoint line that
process prints (`{"host", "port", "pid", ...}`), which the client attaches its debugger to. When
the process ends, its outcome is shown in replay's words; sessions still running when the
server shuts down are ended. A process that fails before listening answers with its one-line
error. May import `flux_lsp.lsp.server` and the standard library.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("flux.lsp")

START_TIMEOUT = 60.0
"""Seconds to wait for the endpoint line (building the sandbox of a long history takes a while)."""


class DebugStartError(Exception):
    """The session could not start; the message is the process's one line."""


@dataclass(slots=True)
class DebugSessions:
    """The running `flux debug` processes, by pid."""

    running: dict[int, asyncio.subprocess.Process] = field(default_factory=dict)
    watchers: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(
        self,
        root: Path,
        ident: str,
        overlay: dict[str, str],
        *,
        port: int = 0,
        on_end: Callable[[dict[str, Any] | None, str], None],
    ) -> dict[str, Any]:
        """Start a session; returns its endpoint. `on_end(report or None, stderr)` is called
        when the process ends."""
        command = [sys.executable, "-m", "flux_lsp", "debug", ident, "--json"]
        command += ["--project", str(root), "--buffers-from-stdin"]
        if port:
            command += ["--port", str(port)]
        process = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=str(root),
        )
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(json.dumps(overlay).encode("utf-8"))
        await process.stdin.drain()
        process.stdin.close()
        try:
            line = await asyncio.wait_for(process.stdout.readline(), START_TIMEOUT)
        except TimeoutError:
            await _end(process)
            raise DebugStartError(f"flux debug did not start within {START_TIMEOUT:.0f}s") from None
        if not line:
            _, err = await process.communicate()
            raise DebugStartError(_last_line(err.decode("utf-8", "replace")))
        endpoint: dict[str, Any] = json.loads(line)
        self.running[process.pid] = process
        task = asyncio.ensure_future(self._watch(process, on_end))
        self.watchers.add(task)
        task.add_done_callback(self.watchers.discard)
        return endpoint

    async def _watch(
        self,
        process: asyncio.subprocess.Process,
        on_end: Callable[[dict[str, Any] | None, str], None],
    ) -> None:
        try:
            out, err = await process.communicate()
        finally:
            self.running.pop(process.pid, None)
        report: dict[str, Any] | None = None
        lines = [line for line in out.decode("utf-8", "replace").splitlines() if line.strip()]
        with contextlib.suppress(ValueError, IndexError):
            report = json.loads(lines[-1])
        try:
            on_end(report, _last_line(err.decode("utf-8", "replace")))
        except Exception:
            log.exception("reporting the end of a debug session failed")

    async def close(self) -> None:
        """End every running session (the server is shutting down)."""
        for process in list(self.running.values()):
            await _end(process)
        for task in list(self.watchers):
            task.cancel()


async def _end(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 5)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return "flux debug ended without saying why"
    last = lines[-1]
    return last.removeprefix("flux: ")


def outcome_message(short_id: str, report: dict[str, Any] | None, stderr: str) -> str:
    """`Flux: debug session of req:… ended: still failing: …` (or passing, or why it ended)."""
    outcomes = (report or {}).get("outcomes") or []
    if not outcomes:
        return f"Flux: debug session of {short_id} ended: {stderr}"
    outcome = outcomes[0]
    if outcome.get("passed"):
        return f"Flux: debug session of {short_id} ended: passing"
    detail = outcome.get("detail") or outcome.get("outcome")
    return f"Flux: debug session of {short_id} ended: {str(detail)[0].lower()}{str(detail)[1:]}"
