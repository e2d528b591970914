"""`flux tail --follow` streams executions as they are recorded, until Ctrl-C."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

from flux_lsp.model import short_id
from tests.harness import FluxApp, terminal_signals

WAIT = 20.0


async def _read_until(stream: asyncio.StreamReader, needle: str) -> list[str]:
    lines: list[str] = []
    while True:
        raw = await asyncio.wait_for(stream.readline(), WAIT)
        if not raw:
            raise AssertionError(f"stream ended before {needle!r}: {lines}")
        lines.append(raw.decode())
        if needle in lines[-1]:
            return lines


async def test_follow_streams_new_executions_until_interrupted(shop: Path) -> None:
    async with FluxApp(shop) as flux:
        first = await flux.client.post("/create_user", json={"email": "a@b.com", "name": "A"})
        flux.flush()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "flux_lsp", "tail", "--follow", "--json", "-p", str(shop),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            preexec_fn=terminal_signals,
        )  # fmt: skip
        assert proc.stdout is not None and proc.stderr is not None
        try:
            await _read_until(proc.stdout, first.headers["x-flux-request-id"])
            second = await flux.client.post("/create_user", json={"name": "nobody"})
            third = await flux.client.post("/create_user", json={"email": "c@d.com"})
            flux.flush()
            lines = await _read_until(proc.stdout, third.headers["x-flux-request-id"])
        finally:
            proc.send_signal(signal.SIGINT)
            code = await asyncio.wait_for(proc.wait(), WAIT)
        stderr = (await proc.stderr.read()).decode()
    streamed = [json.loads(line) for line in lines]
    assert [d["id"] for d in streamed] == [
        second.headers["x-flux-request-id"],
        third.headers["x-flux-request-id"],
    ]
    assert streamed[0]["error"]["message"] == "email required"
    assert code == 0 and "Traceback" not in stderr


async def test_follow_renders_lines_as_tail_does(shop: Path) -> None:
    async with FluxApp(shop) as flux:
        await flux.client.post("/create_user", json={"email": "a@b.com"})
        flux.flush()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "flux_lsp", "tail", "--follow", "-p", str(shop),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            preexec_fn=terminal_signals,
        )  # fmt: skip
        assert proc.stdout is not None
        try:
            await _read_until(proc.stdout, "users.id=u_1  insert")
            r = await flux.client.post("/create_user", json={"name": "x"})
            flux.flush()
            lines = await _read_until(proc.stdout, "← Error: email required")
        finally:
            proc.send_signal(signal.SIGINT)
            code = await asyncio.wait_for(proc.wait(), WAIT)
    head = next(line for line in lines if "POST /create_user  400" in line)
    assert short_id(r.headers["x-flux-request-id"]) in head
    assert code == 0
