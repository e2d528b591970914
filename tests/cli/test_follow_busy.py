"""`flux tail -f -n 1` on a busy recorder: one new request prints one new execution, however
many older ones the recorder holds (locally and from a `flux serve` server)."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from pathlib import Path

import httpx

from flux_lsp.model import Execution, new_execution_id
from flux_lsp.project import Project
from flux_lsp.recorder.writer import open_for_writing, write_batch
from tests.harness import FluxApp, terminal_signals
from tests.serve.helpers import TOKEN, ServeProcess, env

WAIT = 20.0
OLDER = 1000


def record_older(project: Path, count: int = OLDER) -> None:
    """`count` executions recorded within the last two minutes, as a busy app leaves them."""
    now = time.time()
    older = [
        Execution(
            id=new_execution_id(),
            kind="http",
            function="create_user",
            method="POST",
            path="/create_user",
            status="200",
            started_at=now - 120 + i * 0.1,
            duration_ms=1.0,
        )
        for i in range(count)
    ]
    conn = open_for_writing(Project.load(project).recorder_path)
    try:
        write_batch(conn, older)
    finally:
        conn.close()


async def start_tail(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "flux_lsp", "tail", "-f", "-n", "1", "--json", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env(TOKEN),
        preexec_fn=terminal_signals,
    )  # fmt: skip


async def line_of(proc: asyncio.subprocess.Process, timeout: float = WAIT) -> dict[str, object]:
    assert proc.stdout is not None
    raw = await asyncio.wait_for(proc.stdout.readline(), timeout)
    assert raw, "flux tail ended"
    document: dict[str, object] = json.loads(raw)
    return document


async def nothing_more(proc: asyncio.subprocess.Process, seconds: float = 1.5) -> None:
    assert proc.stdout is not None
    try:
        raw = await asyncio.wait_for(proc.stdout.readline(), seconds)
    except TimeoutError:
        return
    raise AssertionError(f"flux tail printed more: {raw!r}")


async def stop(proc: asyncio.subprocess.Process) -> str:
    proc.send_signal(signal.SIGINT)
    code = await asyncio.wait_for(proc.wait(), WAIT)
    assert proc.stderr is not None
    stderr = (await proc.stderr.read()).decode()
    assert code == 0 and "Traceback" not in stderr, stderr
    return stderr


async def test_follow_prints_only_the_new_request_locally(shop: Path) -> None:
    record_older(shop)
    async with FluxApp(shop) as flux:
        proc = await start_tail("-p", str(shop))
        try:
            first = await line_of(proc)
            assert first["function"] == "create_user"
            r = await flux.client.post("/create_user", json={"email": "a@b.com", "name": "A"})
            flux.flush()
            new = await line_of(proc)
            assert new["id"] == r.headers["x-flux-request-id"]
            await nothing_more(proc)
        finally:
            await stop(proc)


async def test_follow_prints_only_the_new_request_from_a_server(shop: Path) -> None:
    record_older(shop)
    with ServeProcess(shop) as server:
        proc = await start_tail("--server", server.url)
        try:
            await line_of(proc)
            async with httpx.AsyncClient(base_url=server.url) as client:
                r = await client.post("/create_user", json={"email": "a@b.com", "name": "A"})
            new = await line_of(proc)
            assert new["id"] == r.headers["x-flux-request-id"]
            await nothing_more(proc)
        finally:
            await stop(proc)
