"""What OpenTelemetry export costs: throughput with export on vs off, and spans/s exported.

Serves the same handler as `recording_overhead.py` (one insert, one query) with the real
recorder writer, once exporting every execution over OTLP/HTTP to a collector and once not,
interleaving rounds so machine noise hits both alike, and prints requests/s for each and the
median per-round ratio (target: on/off >= 0.97, since the export happens in the writer process,
off the request path). The collector is a separate process that decodes every request with
opentelemetry-proto and counts the spans. Then measures how many spans per second the writer's
exporter delivers to that collector when given a backlog.

    .venv/bin/python bench/otlp_export.py [--requests 2000] [--rounds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
from recording_overhead import make_project, throughput

from flux_lsp.model import Execution, Span
from flux_lsp.recorder.export import ExportTarget, OtlpExporter
from flux_lsp.recorder.writer import RecorderWriter, encode


def collector(port: int) -> None:
    """The collector process: decode each export, count spans; GET /count reports them."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    spans = 0

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            nonlocal spans
            body = self.rfile.read(int(self.headers["content-length"]))
            request = ExportTraceServiceRequest.FromString(body)
            spans += sum(len(s.spans) for r in request.resource_spans for s in r.scope_spans)
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def do_GET(self) -> None:
            payload = str(spans).encode()
            self.send_response(200)
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            return None

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_collector() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, __file__, "--collector", str(port)])
    for _ in range(200):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.1):
                break
        except OSError:
            time.sleep(0.05)
    return proc, f"http://127.0.0.1:{port}"


def collected(url: str) -> int:
    return int(httpx.get(url + "/count").text)


def exporter_rate(url: str, records: int) -> tuple[float, float]:
    """Spans per second the exporter delivers from a backlog of `records` executions, and the
    CPU time it spends per span (µs: decoding, building, serialising and posting; this process
    holds only the exporter then, the collector is another)."""
    spans = [Span(id=i, name=n, parent=None if i == 0 else 1) for i, n in enumerate(NAMES)]
    frames = [
        encode(
            Execution(
                id=f"{i:016x}",
                kind="http",
                function="item",
                method="POST",
                path="/item",
                status="200",
                started_at=time.time(),
                duration_ms=1.0,
                spans=spans,
                trace_id=f"{i:032x}",
            )
        )
        for i in range(records)
    ]
    before = collected(url)
    exporter = OtlpExporter(ExportTarget(url + "/v1/traces"), queue_records=records)
    start, cpu_start = time.perf_counter(), time.process_time()
    exporter.offer(frames)
    assert exporter.flush(120), "the exporter did not drain"
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    exporter.close()
    assert exporter.dropped == 0
    assert collected(url) - before == records * len(spans)
    return records * len(spans) / elapsed, cpu / (records * len(spans)) * 1e6


NAMES = ("gateway", "function", "db.insert", "db.query", "response")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--collector", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.collector:
        collector(args.collector)
        return
    proc, url = start_collector()
    base = Path(tempfile.mkdtemp(prefix="flux-bench-otlp-"))
    results: dict[str, list[float]] = {"off": [], "on": []}
    try:
        for round_ in range(args.rounds):
            order = list(results) if round_ % 2 == 0 else list(reversed(results))
            for mode in order:
                project = make_project(base / f"{mode}-{round_}")
                target = ExportTarget(url + "/v1/traces") if mode == "on" else None
                recorder = RecorderWriter(project.recorder_path, export=target)
                await asyncio.sleep(0.5)
                results[mode].append(await throughput(project, recorder, args.requests))
        exported = collected(url)
        rate, cpu_per_span = exporter_rate(url, 20_000)
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(base, ignore_errors=True)
    print(f"requests per round: {args.requests}, {args.rounds} rounds, recording on in both")
    for mode, rounds in results.items():
        shown = ", ".join(f"{x:.0f}" for x in rounds)
        median = statistics.median(rounds)
        print(f"export {mode + ':':5} {median:6.0f} req/s (median; rounds: {shown})")
    ratio = statistics.median(a / b for a, b in zip(results["on"], results["off"], strict=True))
    print(f"ratio on/off: {ratio:.3f}   (median of per-round ratios; target >= 0.97)")
    print(f"spans received by the collector during the export rounds: {exported:,}")
    print(f"exporter: {rate:,.0f} spans/s from a backlog of 20,000 executions (5 spans each)")
    print(f"exporter CPU: {cpu_per_span:.1f} µs per span")


if __name__ == "__main__":
    asyncio.run(main())
