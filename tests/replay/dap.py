"""A small Debug Adapter Protocol client for the tests, and a `flux debug` process to use it on.

It speaks the real protocol over the socket `flux debug` prints: `Content-Length` framed JSON
messages, requests answered by responses with the request's `seq`, and events. Requests can be
sent without waiting for their response (debugpy answers `attach` only after
`configurationDone`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.harness import terminal_signals

FLUX = [sys.executable, "-m", "flux_lsp"]


class DapError(AssertionError):
    pass


class DapClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._seq = 0
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.events: list[dict[str, Any]] = []
        self._new_event = asyncio.Condition()
        self._task = asyncio.ensure_future(self._read())

    @classmethod
    async def connect(cls, host: str, port: int) -> DapClient:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def _read(self) -> None:
        try:
            while True:
                length = 0
                while True:
                    line = await self._reader.readline()
                    if not line:
                        raise EOFError
                    line = line.strip()
                    if not line:
                        break
                    name, _, value = line.decode("ascii").partition(":")
                    if name.lower() == "content-length":
                        length = int(value)
                message = json.loads(await self._reader.readexactly(length))
                if message["type"] == "response":
                    future = self._pending.pop(message["request_seq"], None)
                    if future is not None and not future.done():
                        future.set_result(message)
                elif message["type"] == "event":
                    async with self._new_event:
                        self.events.append(message)
                        self._new_event.notify_all()
        except (EOFError, asyncio.IncompleteReadError, ConnectionError):
            async with self._new_event:
                self.events.append({"type": "event", "event": "<closed>", "body": {}})
                self._new_event.notify_all()
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(DapError("connection closed"))

    def send(self, command: str, **arguments: Any) -> asyncio.Future[dict[str, Any]]:
        """Send a request; the future resolves to its response."""
        self._seq += 1
        message = {"seq": self._seq, "type": "request", "command": command}
        if arguments:
            message["arguments"] = arguments
        data = json.dumps(message).encode("utf-8")
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[self._seq] = future
        self._writer.write(b"Content-Length: %d\r\n\r\n" % len(data) + data)
        return future

    async def request(self, command: str, timeout: float = 30, **arguments: Any) -> Any:
        """Send a request and return its response body; a failed request raises."""
        response = await asyncio.wait_for(self.send(command, **arguments), timeout)
        if not response.get("success"):
            raise DapError(f"{command} failed: {response.get('message')} {response.get('body')}")
        return response.get("body") or {}

    async def event(self, name: str, timeout: float = 60) -> dict[str, Any]:
        """The body of the next not yet taken event called `name`."""

        def take() -> dict[str, Any] | None:
            for i, event in enumerate(self.events):
                if event["event"] == name:
                    del self.events[i]
                    return event.get("body") or {}
            return None

        async def wait() -> dict[str, Any]:
            async with self._new_event:
                while True:
                    found = take()
                    if found is not None:
                        return found
                    if any(e["event"] == "<closed>" for e in self.events) and name != "<closed>":
                        raise DapError(f"connection closed before a {name!r} event: {self.events}")
                    await self._new_event.wait()

        try:
            return await asyncio.wait_for(wait(), timeout)
        except TimeoutError:
            raise DapError(
                f"no {name!r} event in {timeout}s: {[e['event'] for e in self.events]}"
            ) from None

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(BaseException):
            await self._task
        self._writer.close()
        with contextlib.suppress(Exception):
            await self._writer.wait_closed()

    # The steps every session takes, and what a stop shows.

    async def attach(self, breakpoints: dict[str, list[int]] | None = None) -> None:
        """initialize, attach, setBreakpoints (per file), configurationDone."""
        await self.request(
            "initialize",
            clientID="flux-tests",
            adapterID="flux",
            linesStartAt1=True,
            columnsStartAt1=True,
            pathFormat="path",
            supportsVariableType=True,
        )
        attached = self.send("attach", justMyCode=True)
        await self.event("initialized")
        for path, lines in (breakpoints or {}).items():
            body = await self.request(
                "setBreakpoints",
                source={"path": path},
                breakpoints=[{"line": n} for n in lines],
            )
            assert all(b["verified"] for b in body["breakpoints"]), body
        await self.request("setExceptionBreakpoints", filters=[])
        await self.request("configurationDone")
        response = await asyncio.wait_for(attached, 30)
        assert response["success"], response

    async def stopped(self) -> Stop:
        """Wait for the next stop; its top frame and that frame's local variables."""
        event = await self.event("stopped")
        thread = event["threadId"]
        frames = (await self.request("stackTrace", threadId=thread))["stackFrames"]
        top = frames[0]
        scopes = (await self.request("scopes", frameId=top["id"]))["scopes"]
        local = next(s for s in scopes if s["name"].lower().startswith("local"))
        variables = (
            await self.request("variables", variablesReference=local["variablesReference"])
        )["variables"]
        return Stop(
            reason=event.get("reason", ""),
            thread=thread,
            file=top["source"]["path"],
            line=top["line"],
            frame=top["id"],
            variables={v["name"]: v["value"] for v in variables},
        )

    async def evaluate(self, expression: str, frame: int) -> str:
        body = await self.request("evaluate", expression=expression, frameId=frame, context="repl")
        return str(body["result"])


@dataclass
class Stop:
    reason: str
    thread: int
    file: str
    line: int
    frame: int
    variables: dict[str, str] = field(default_factory=dict)


@dataclass
class DebugRun:
    """A running `flux debug --json` process: its endpoint line, and its output when done."""

    process: asyncio.subprocess.Process
    endpoint: dict[str, Any]

    async def finish(self, timeout: float = 60) -> tuple[int, dict[str, Any], str]:
        """Exit code, the JSON report it printed last, and its stderr."""
        out, err = await asyncio.wait_for(self.process.communicate(), timeout)
        lines = [line for line in out.decode().splitlines() if line.strip()]
        report = json.loads(lines[-1]) if lines else {}
        assert self.process.returncode is not None
        return self.process.returncode, report, err.decode()

    async def to_the_end(self, dap: DapClient, stop: Stop) -> tuple[int, dict[str, Any]]:
        """Continue from `stop` until the session terminates: the exit code and the outcome."""
        await dap.request("continue", threadId=stop.thread)
        await dap.event("terminated")
        code, report, _ = await self.finish()
        (outcome,) = report["outcomes"]
        return code, outcome


async def start_debug(
    project: Path,
    ident: str,
    *args: str,
    buffers: dict[str, str] | None = None,
    tmpdir: Path | None = None,
) -> DebugRun:
    """Start `flux debug <ident> --json` (its sandbox under `tmpdir` if given) and read its
    endpoint line."""
    command = [*FLUX, "debug", ident, "--json", "-p", str(project), *args]
    if buffers is not None:
        command.append("--buffers-from-stdin")
    process = await asyncio.create_subprocess_exec(
        *command,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **({"TMPDIR": str(tmpdir)} if tmpdir else {})},
        preexec_fn=terminal_signals,
    )
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(json.dumps(buffers or {}).encode())
    await process.stdin.drain()
    process.stdin.close()
    line = await asyncio.wait_for(process.stdout.readline(), 60)
    if not line:
        _, err = await process.communicate()
        raise DapError(f"flux debug printed no endpoint: {err.decode()}")
    return DebugRun(process, json.loads(line))


@contextlib.asynccontextmanager
async def debugging(
    project: Path,
    ident: str,
    *args: str,
    buffers: dict[str, str] | None = None,
    tmpdir: Path | None = None,
) -> AsyncIterator[tuple[DebugRun, DapClient]]:
    """A `flux debug` process and a DAP client connected to it; both ended on exit."""
    run = await start_debug(project, ident, *args, buffers=buffers, tmpdir=tmpdir)
    client = await DapClient.connect(run.endpoint["host"], run.endpoint["port"])
    try:
        yield run, client
    finally:
        await client.close()
        if run.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                run.process.kill()
            await run.process.wait()
