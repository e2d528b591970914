"""From a failing HTTP response to the diagnostic in the editor, end to end, at 1M executions.

What a user sees: `flux serve` answers a request with a 500, and the failure shows on its line
in the open file. This script builds (or reuses) `bench/lsp_latency.py`'s project — 200
function files and a recorder of 1,000,000 executions — starts a real `flux serve` on it (its
recorder writer process records into that recorder) and `flux lsp` with a real pygls client,
opens all 200 files, then sends requests that fail (a body without `customer_id`: a KeyError,
500) to a different function each time, `--pause` seconds apart, and times each from the
moment the 500 response has arrived to the `publishDiagnostics` of that file whose diagnostic
names the failed execution (`data.latest` is the response's `x-flux-request-id`).
Goal: p50 ≤ 100 ms, p95 ≤ 150 ms.

    .venv/bin/python bench/failure_to_editor.py [--keep DIR] [--executions 1000000]
        [--requests 30] [--pause 0.5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from pygls.uris import from_fs_path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from lsp_latency import (
    FUNCTIONS,
    BenchClient,
    name,
    open_document,
    prepare_project,
    start_server,
    stop_server,
)

from flux_lsp.analysis.stats import percentile

TOKEN = "flux-bench-token"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_serve(root: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "FLUX_TOKEN": TOKEN}
    command = [sys.executable, "-m", "flux_lsp", "serve", "-p", str(root), "--port", str(port)]
    process = subprocess.Popen(command, stdout=log.open("wb"), stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            raise SystemExit(f"flux serve exited early:\n{log.read_text()}")
        try:
            httpx.get(f"http://127.0.0.1:{port}/_flux/stats", timeout=1)
            return process
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise SystemExit(f"flux serve did not start:\n{log.read_text()}") from None
            time.sleep(0.1)


def stop_serve(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


async def measure(root: Path, port: int, requests: int, pause: float) -> None:
    client = BenchClient()
    await start_server(client, root, [sys.executable, "-m", "flux_lsp", "lsp"])
    for n in range(FUNCTIONS):  # every file open, as in bench/lsp_latency.py
        path = root / "functions" / f"{name(n)}.py"
        event = client.published.setdefault(from_fs_path(str(path)) or "", asyncio.Event())
        open_document(client, path)
        await asyncio.wait_for(event.wait(), 60)
    await asyncio.sleep(2)
    to_editor: list[float] = []
    response_ms: list[float] = []
    missed = 0
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
        for i in range(requests):
            function = name((i * 37) % FUNCTIONS)
            sent = time.perf_counter()
            answer = await http.post(f"/{function}", json={})
            answered = time.perf_counter()
            response_ms.append((answered - sent) * 1000)
            ident = answer.headers.get("x-flux-request-id", "")
            if answer.status_code != 500 or not ident:
                raise SystemExit(f"expected a 500 with a request id, got {answer.status_code}")
            deadline = answered + 10
            while ident not in client.seen and time.perf_counter() < deadline:
                client.changed.clear()
                try:
                    await asyncio.wait_for(client.changed.wait(), deadline - time.perf_counter())
                except TimeoutError:
                    break
            if ident in client.seen:
                to_editor.append((client.seen[ident] - answered) * 1000)
            else:
                missed += 1
            await asyncio.sleep(pause)
    await stop_server(client)

    def line(label: str, values: list[float], goal: str = "") -> str:
        p50, p95 = statistics.median(values), percentile(values, 95) or 0.0
        return f"{label:<38} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms{goal}"

    print(f"failing requests: {requests}; never published within 10 s: {missed}")
    print(line("request → 500 response", response_ms))
    if to_editor:
        p50, p95 = statistics.median(to_editor), percentile(to_editor, 95) or 0.0
        verdict = "ok" if p50 <= 100 and p95 <= 150 else "MISSED"
        goal = f"  (goal p50 ≤ 100, p95 ≤ 150 ms: {verdict})"
        print(line("500 response → diagnostic published", to_editor, goal))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executions", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--pause", type=float, default=0.5)
    parser.add_argument("--keep", type=Path, default=None)
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="flux-failure-to-editor-"))
    serve: subprocess.Popen[bytes] | None = None
    try:
        prepare_project(root, args.executions)
        port = free_port()
        serve = start_serve(root, port, root / "serve.log")
        asyncio.run(measure(root, port, args.requests, args.pause))
    finally:
        if serve is not None:
            stop_serve(serve)
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
