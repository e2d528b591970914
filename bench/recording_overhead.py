"""What recording costs: throughput with recording on vs off, and a span vs an OpenTelemetry span.

Serves the same handler (one insert, one query) with the real recorder writer and with
recording off, in the same run, interleaving rounds so that machine noise hits both alike,
and prints requests/s for each and their ratio (target: on/off >= 0.97), and the app
process's CPU time per request in each mode. A third mode only
serialises each record and throws it away: the cost the request path itself pays, apart
from the writer process's work on the machine's other core. With `--hand-off`, a fourth mode
runs the whole app side of recording (queue, sender thread, writes to the pipe) into a process
that reads and discards: what the hand-off costs the app, apart from what the writer's work on
the other core costs it. Then times opening and closing
a Flux span against an OpenTelemetry SDK span (target: Flux <= 1/3 of OTel).

    .venv/bin/python bench/recording_overhead.py [--requests 2000] [--rounds 30]
        [--recorder-url postgresql://…] [--hand-off] [--control]

With `--control`, a mode that is "off" again (the same app, recording off, a run of its own in
every round) is measured beside the others: its ratio to "off" is the instrument's own scatter
in that run, 1.000 on a steady machine, and an on/off figure means only as much as the control
stays near it.

With `--recorder-url` the "on" mode records into that PostgreSQL recorder instead of a file.

The "on" mode also keeps the app's own account of what recording costs it: the wall time of
`record()` on the request path, and the CPU time of the recorder's sender and ack threads, per
request, against the process's CPU per request in the same window. Both sides of that
fraction are measured at the same moments, so the machine's drift, which moves whole rounds
by a third on a shared 2-core virtual machine, cancels in it; what it leaves out is any
slowing of the app by the writer process's work on the other core (measured apart: none
above the noise). Timing `record()` costs the "on" mode two clock reads a request.

With `--alternate SECONDS`, two more figures come from one continuous stream of traffic each,
where the rounds' separate runs cannot cancel a virtual machine whose speed drifts within
seconds: the real recorder is switched on and off every `SLOT_SECONDS`, requests are counted in
each slot once it has settled, and each "on" slot is divided by the mean of its two "off"
neighbours. A control run does the same with a recorder that is never on, which gives the
instrument's own scatter: an on/off figure is only as good as its distance from the control's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from flux_lsp.model import Execution
from flux_lsp.project import Project
from flux_lsp.recorder.writer import PIPE_BYTES, RecorderWriter, encode
from flux_lsp.runtime.gateway import create_app
from flux_lsp.runtime.inflight import Trace
from flux_lsp.runtime.recording import NullRecorder, Recorder
from flux_lsp.runtime.runtime import Runtime

HANDLER = """\
async def handler(req, ctx):
    body = await req.json()
    row = await ctx.db.insert("items", {"name": body["name"], "n": body["n"]})
    found = await ctx.db.query("SELECT id, name FROM items WHERE id = $1", [row.id])
    return {"id": row.id, "found": len(found)}
"""
CONCURRENCY = 20
WARM = 1000
"""Requests served before the measured window opens."""
SETTLE_SECONDS = 0.5
"""A pause before each mode's traffic (the writer process starts in it), the same for all."""


class SerialiseOnly:
    """A recorder that pays the request path's share of recording and writes nothing."""

    def record(self, execution: Execution) -> None:
        encode(execution)

    def close(self) -> None:
        return None


DISCARD = "import os\nwhile os.read(0, 1 << 20):\n    pass\n"


class HandOffOnly(RecorderWriter):
    """The real recorder's app side, handing its records to a process that discards them."""

    def _start_process(self) -> None:
        self._started_at = time.monotonic()
        self._process = subprocess.Popen([sys.executable, "-c", DISCARD], stdin=subprocess.PIPE)
        self._reader = None
        if hasattr(fcntl, "F_SETPIPE_SZ") and self._process.stdin is not None:  # as the writer's
            fcntl.fcntl(self._process.stdin.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)


class Accounted(RecorderWriter):
    """The real recorder, keeping account of its share of the app's work: the wall time
    `record()` takes on the request path, and the CPU time of its sender and ack threads."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.records = 0
        self.request_path = 0.0
        self.threads_cpu = 0.0
        self._account_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def record(self, execution: Execution) -> None:
        start = time.perf_counter()
        super().record(execution)
        self.request_path += time.perf_counter() - start
        self.records += 1

    def _thread_done(self) -> None:
        with self._account_lock:
            self.threads_cpu += time.thread_time()

    def _send_loop(self) -> None:
        try:
            super()._send_loop()
        finally:
            self._thread_done()

    def _read_acks(self, process: subprocess.Popen[bytes]) -> None:
        try:
            super()._read_acks(process)
        finally:
            self._thread_done()

    def share(self) -> tuple[float, float]:
        """(µs of `record()`, µs of the recorder's threads' CPU) per record so far."""
        with self._account_lock:
            return (
                self.request_path / self.records * 1e6,
                self.threads_cpu / self.records * 1e6,
            )


def make_project(root: Path) -> Project:
    if root.exists():
        shutil.rmtree(root)
    (root / "functions").mkdir(parents=True)
    (root / "migrations").mkdir()
    (root / "functions" / "item.py").write_text(HANDLER)
    (root / "migrations" / "001.sql").write_text(
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, n INTEGER);"
    )
    return Project.load(root)


@contextlib.asynccontextmanager
async def serving(project: Project, recorder: Recorder) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the project's app, served in process with `recorder`, which is closed
    (its writer process finishing) when the block ends."""
    runtime = Runtime(project, recorder)
    await runtime.start()
    transport = httpx.ASGITransport(app=create_app(runtime))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            yield client
    finally:
        recorder.close()
        await runtime.stop()


async def throughput(
    project: Project, recorder: Recorder, requests: int, cpu: list[float] | None = None
) -> float:
    """Requests per second over a window in the middle of continuous traffic (and, appended to
    `cpu`, this process's CPU time per request in it, in µs: all its threads, the bench's
    client included; steadier than the rate when other work shares the cores).

    The window opens once `WARM` requests have completed, when the recorder's hand-offs to
    the writer process are in their steady rhythm, and closes `requests` later while traffic
    still runs: the writer's work during the window is what recording costs, neither its
    start-up nor the last hand-off after the traffic stops.
    """
    marks: dict[int, float] = {}
    cpu_marks: dict[int, float] = {}
    completed = 0
    async with serving(project, recorder) as client:
        for i in range(50):  # imports, module load, SQLite caches
            await client.post("/item", json={"name": "warm", "n": i})
        counter = iter(range(WARM + requests + 2 * CONCURRENCY))

        async def worker() -> None:
            nonlocal completed
            for i in counter:
                r = await client.post("/item", json={"name": f"item {i}", "n": i})
                assert r.status_code == 200
                completed += 1
                if completed in (WARM, WARM + requests):
                    marks[completed] = time.perf_counter()
                    cpu_marks[completed] = time.process_time()

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    if cpu is not None:
        cpu.append((cpu_marks[WARM + requests] - cpu_marks[WARM]) / requests * 1e6)
    return requests / (marks[WARM + requests] - marks[WARM])


SLOT_SECONDS = 1.0
"""How long recording stays on (or off) in an alternating run: several hand-offs long."""
SLOT_SETTLE = 0.3
"""Requests that finish this early in a slot are not counted: the switch's last hand-off and
the writer's catch-up belong to the slot before."""


class Alternating:
    """A recorder that passes records to `inner` only while `on`."""

    def __init__(self, inner: Recorder) -> None:
        self.inner = inner
        self.on = False

    def record(self, execution: Execution) -> None:
        if self.on:
            self.inner.record(execution)

    def close(self) -> None:
        self.inner.close()


async def alternating(project: Project, inner: Recorder, seconds: float) -> list[float]:
    """One stream of traffic for `seconds`, recording through `inner` in every other slot;
    the ratio of each "on" slot's requests to the mean of its "off" neighbours."""
    recorder = Alternating(inner)
    counts: dict[int, int] = {}
    async with serving(project, recorder) as client:
        for i in range(WARM):  # imports, module load, SQLite caches, the writer's start
            await client.post("/item", json={"name": "warm", "n": i})
        t0 = time.perf_counter()

        async def worker() -> None:
            i = 0
            while (elapsed := time.perf_counter() - t0) < seconds:
                recorder.on = int(elapsed / SLOT_SECONDS) % 2 == 1
                r = await client.post("/item", json={"name": f"item {i}", "n": i})
                assert r.status_code == 200
                i += 1
                elapsed = time.perf_counter() - t0
                if elapsed % SLOT_SECONDS >= SLOT_SETTLE:
                    slot = int(elapsed / SLOT_SECONDS)
                    counts[slot] = counts.get(slot, 0) + 1

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    last = int(seconds / SLOT_SECONDS) - 1  # the last slot is cut short
    return [
        counts[s] / ((counts[s - 1] + counts[s + 1]) / 2)
        for s in range(1, last, 2)
        if s - 1 in counts and s + 1 in counts and s in counts
    ]


def spread(ratios: list[float]) -> str:
    """The median of slot ratios with their quartiles."""
    q1, median, q3 = statistics.quantiles(ratios, n=4)
    return f"{median:.3f}   (quartiles {q1:.3f}–{q3:.3f}, {len(ratios)} slots)"


def span_cost(iterations: int) -> tuple[float, float]:
    """(Flux ns per span, OpenTelemetry SDK ns per span)."""
    from opentelemetry.sdk.trace import TracerProvider

    trace = Trace("0" * 16, "/nonexistent/functions/", "/nonexistent")
    attrs = {"db.collection.name": "users", "db.operation.name": "insert"}

    def flux_spans() -> float:
        trace.spans.clear()
        start = time.perf_counter_ns()
        for _ in range(iterations):
            with trace.span("db.insert", dict(attrs)):
                pass
        return (time.perf_counter_ns() - start) / iterations

    tracer = TracerProvider().get_tracer("bench")

    def otel_spans() -> float:
        start = time.perf_counter_ns()
        for _ in range(iterations):
            with tracer.start_as_current_span("db.insert", attributes=attrs):
                pass
        return (time.perf_counter_ns() - start) / iterations

    # Interleaved, best of 7 each: a drift of the machine's speed between two blocks of
    # measurements would otherwise move the ratio (it once read 0.355 for a typical 0.25).
    flux, otel = float("inf"), float("inf")
    for _ in range(7):
        flux = min(flux, flux_spans())
        otel = min(otel, otel_spans())
    return flux, otel


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--recorder-url", default=None, help="record to this PostgreSQL recorder")
    parser.add_argument(
        "--hand-off", action="store_true", help="also run the app side into a discarding process"
    )
    parser.add_argument(
        "--control", action="store_true", help='also run "off" again: the instrument\'s scatter'
    )
    parser.add_argument(
        "--alternate",
        type=float,
        default=0,
        metavar="SECONDS",
        help="also measure on/off in one stream, switching every second (and a control)",
    )
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="flux-bench-"))
    results: dict[str, list[float]] = {"off": [], "on": [], "serialise": []}
    if args.hand_off:
        results["hand-off"] = []
    if args.control:
        results["off again"] = []
    cpu: dict[str, list[float]] = {mode: [] for mode in results}
    accounts: list[tuple[float, float, float]] = []
    """Per "on" round: µs of record(), µs of the recorder's threads, µs of process CPU."""
    sequence = list(results)
    if args.control:  # "on" and the control each beside "off": the same distance in time
        rest = [m for m in results if m not in ("on", "off", "off again")]
        sequence = ["on", "off", "off again", *rest]
    for round_ in range(args.rounds):
        order = sequence if round_ % 2 == 0 else list(reversed(sequence))
        for mode in order:
            project = make_project(base / f"{mode}-{round_}")
            recorder: Recorder
            if mode in ("on", "hand-off"):
                writer = Accounted if mode == "on" else HandOffOnly
                recorder = writer(
                    args.recorder_url or project.recorder_path, health=project.recorder_health_path
                )
            else:
                recorder = SerialiseOnly() if mode == "serialise" else NullRecorder()
            await asyncio.sleep(SETTLE_SECONDS)
            results[mode].append(await throughput(project, recorder, args.requests, cpu[mode]))
            if isinstance(recorder, Accounted):  # closed: its threads have added their CPU
                path, threads = recorder.share()
                accounts.append((path, threads, cpu[mode][-1]))
    medians = {mode: statistics.median(rounds) for mode, rounds in results.items()}
    where = "a PostgreSQL recorder" if args.recorder_url else "the recorder file"
    print(
        f"requests per round: {args.requests} at concurrency {CONCURRENCY}, {args.rounds} rounds, "
        f"recording to {where}"
    )
    for mode, rounds in results.items():
        shown = ", ".join(f"{x:.0f}" for x in rounds)
        print(f"recording {mode + ':':10} {medians[mode]:6.0f} req/s (median; rounds: {shown})")

    def ratio(mode: str) -> float:
        """The median of `mode`'s per-round ratios to "off": each round runs the modes back to
        back, so this cancels the machine's drift (other tenants, frequency changes) that
        moves whole rounds up or down."""
        return statistics.median(a / b for a, b in zip(results[mode], results["off"], strict=True))

    for mode, rounds in cpu.items():
        print(f"app CPU {mode + ':':10} {statistics.median(rounds):6.0f} µs per request (median)")
    print(f"ratio on/off:        {ratio('on'):.3f}   (median of per-round ratios; target >= 0.97)")
    print(f"ratio serialise/off: {ratio('serialise'):.3f}   (request path only)")
    path = statistics.median(a[0] for a in accounts)
    threads = statistics.median(a[1] for a in accounts)
    share = statistics.median((a[0] + a[1]) / a[2] for a in accounts)
    print(
        f"app's account (on):  record() {path:.1f} µs + recorder threads {threads:.1f} µs "
        f"per request, {share:.1%} of the app's CPU: on/off {1 - share:.3f} (target >= 0.97)"
    )
    if args.hand_off:
        hand = ratio("hand-off")
        print(f"ratio hand-off/off:  {hand:.3f}   (app side of recording, no writer work)")
    if args.control:
        again = ratio("off again")
        print(f"control off/off:     {again:.3f}   (the instrument's scatter; 1.000 when steady)")
    if args.alternate:
        project = make_project(base / "alternate-on")
        location = args.recorder_url or project.recorder_path
        real = RecorderWriter(location, health=project.recorder_health_path)
        on = await alternating(project, real, args.alternate)
        control = await alternating(
            make_project(base / "alternate-off"), NullRecorder(), args.alternate
        )
        print(f"alternating on/off:  {spread(on)}   (target >= 0.97)")
        print(f"control off/off:     {spread(control)}   (the instrument's scatter)")
    shutil.rmtree(base, ignore_errors=True)
    flux_ns, otel_ns = span_cost(100_000)
    print(f"span open+close: Flux {flux_ns:.0f} ns, OpenTelemetry SDK {otel_ns:.0f} ns")
    print(f"ratio Flux/OTel: {flux_ns / otel_ns:.3f}   (target <= 0.333)")


if __name__ == "__main__":
    asyncio.run(main())
