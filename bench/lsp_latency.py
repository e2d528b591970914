"""Language-server latency on a big recorder: didOpen→diagnostics, hover, and the server's RSS.

Synthesises a recorder of 1,000,000 executions over 200 functions (spread over 7 days, 5% 5xx
with three kinds of failure per function, 3% 4xx, a recorded `ctx.db.update` call site on
every run) through the recorder's own write path (`open_for_writing` + `write_batch`), then
starts `flux lsp` over stdio with a real pygls client and measures:

- didOpen → publishDiagnostics, per function file (cold: each file is opened for the first
  time), until every chosen file is open;
- then, after a pause of `PAUSE_SECONDS` (a user reading the code; the server works out what
  the hovers will show meanwhile), with every file open, the first hover on each file's
  failing line (the why report), on the `ctx.db.insert` line that no failure covers
  (call-site results) and on the handler's `def` (recent executions with p50/p95), each
  beside the pygls floor measured in the same run: a request no server implements, answered
  (method not found) by pygls's dispatch alone;
- a failure written while the file is open → diagnostics published (live updates: the write
  is followed by the writer's commit signal, as the writer process does), and the hover on
  that new failure at once;

and the server process's peak RSS (VmHWM), and `flux tail` (the 20 newest) run as a command.
Targets: diagnostics p95 ≤ 50 ms, every hover kind p95 ≤ 10 ms, written → published p95
≤ 100 ms, RSS ≤ 150 MB, tail ≤ 0.3 s.

    .venv/bin/python bench/lsp_latency.py [--executions 1000000] [--files 200] [--keep DIR]
        [--pause 5] [--recorder-url postgresql://…]

`--keep DIR` keeps (and on the next run reuses) the synthesised project in DIR.
`--recorder-url` builds and reads the recorder in that PostgreSQL database instead of the file
(through the PostgreSQL writer's own row path, `write_records_pg`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pygls.lsp.client import LanguageClient
from pygls.uris import from_fs_path

from flux_lsp.analysis.stats import percentile
from flux_lsp.model import ErrorInfo, Execution, Location, Mutation, Span, new_execution_id
from flux_lsp.recorder.postgres_schema import connect, ensure_schema, schema_version, total_size
from flux_lsp.recorder.postgres_writer import write_records_pg
from flux_lsp.recorder.signal import signal_commit, signal_path
from flux_lsp.recorder.writer import encode, open_for_writing, write_batch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cli_startup import installed_environment

FUNCTIONS = 200
DAYS = 7
FAIL_RATE = 0.05
CLIENT_ERROR_RATE = 0.03
BATCH = 5000

HANDLER = '''\
"""Synthetic function {n} for the language-server benchmark."""


async def handler(req, ctx):
    body = await req.json()
    customer_id = body["customer_id"]
    if not customer_id.startswith("cus_"):
        raise ValueError(f"bad customer id {{customer_id}}")
    await ctx.db.update(
        "subscriptions",
        {{"customer_id": customer_id}},
        {{"status": "active"}},
    )
    await ctx.db.insert("events", {{"customer_id": customer_id}})
    return {{"ok": True}}
'''
UPDATE_LINE = 9  # 1-based line of `await ctx.db.update(`
INSERT_LINE = 14  # 1-based line of `await ctx.db.insert(`: a call site no failure covers
RAISE_LINE = 8
MESSAGES = (
    "Row not found: subscriptions WHERE customer_id = '{c}'",
    "database is locked while updating {c}",
    "timeout after {n} ms talking to subscriptions",
)


def name(n: int) -> str:
    return f"fn_{n:03d}"


def write_project(root: Path, url: str | None) -> None:
    functions = root / "functions"
    functions.mkdir(parents=True, exist_ok=True)
    for n in range(FUNCTIONS):
        (functions / f"{name(n)}.py").write_text(HANDLER.format(n=n))
    if url is not None:
        (root / "flux.toml").write_text(f'[recorder]\nurl = "{url}"\n')


class Sink:
    """Writes batches of executions into the recorder file or the PostgreSQL recorder."""

    def __init__(self, path: Path, url: str | None) -> None:
        self.url = url
        if url is not None:
            self.pg = connect(url, autocommit=True)
            ensure_schema(self.pg)
            self.known: set[tuple[bool, int]] = set()
        else:
            self.conn = open_for_writing(path, busy_timeout=30)
            self.signal = signal_path(path)
            self.written = 0

    def write(self, batch: list[Execution]) -> None:
        if self.url is not None:
            write_records_pg(self.pg, [encode(e) for e in batch], self.known)
        else:
            self.written += write_batch(self.conn, batch)
            signal_commit(self.signal, self.written)  # as the writer process does

    def close(self) -> None:
        (self.pg if self.url is not None else self.conn).close()


def location(n: int, line: int, source: str) -> Location:
    lines = HANDLER.format(n=n).splitlines()
    start = max(1, line - 3)
    return Location(
        file=f"functions/{name(n)}.py",
        line=line,
        col=4,
        end_line=line + 4 if line == UPDATE_LINE else line,
        end_col=5 if line == UPDATE_LINE else len(source),
        function="handler",
        source_line=lines[line - 1],
        context=lines[start - 1 : line + 3],
        context_start=start,
    )


def synthesise(rng: random.Random, n: int, at: float) -> Execution:
    fn = name(n)
    customer = f"cus_{rng.randrange(10**6):06d}"
    roll = rng.random()
    duration = rng.lognormvariate(2.5, 0.6)
    status, error, mutations = "200", None, []
    span_error = None
    eid = new_execution_id()
    if roll < FAIL_RATE:
        status = "500"
        kind = rng.randrange(3)
        message = MESSAGES[kind].format(c=customer, n=rng.randrange(1000, 5000))
        loc = location(n, UPDATE_LINE, "")
        error = ErrorInfo("RowNotFound", message, loc, [loc], {"customer_id": repr(customer)})
        span_error = message
        mutations.append(
            Mutation(eid, 0, "subscriptions", "update", None, None, None, 0, at, {"c": customer})
        )
    elif roll < FAIL_RATE + CLIENT_ERROR_RATE:
        status = "400"
        loc = location(n, RAISE_LINE, "")
        error = ErrorInfo("ValueError", f"bad customer id {customer}", loc, [loc])
    spans = [
        Span(0, "gateway", None, 0.0, duration, "error" if span_error else "ok"),
        Span(1, "function", 0, 0.5, duration - 1, attributes={"code.function.name": fn}),
        Span(
            2,
            "db.update",
            1,
            1.0,
            duration / 3,
            "error" if span_error else "ok",
            {"db.collection.name": "subscriptions", "db.response.rows_affected": int(not error)},
            output={"rows_affected": int(not error)},
            error=span_error,
            file=f"functions/{fn}.py",
            line=UPDATE_LINE,
        ),
    ]
    if not error:
        spans.append(
            Span(
                3,
                "db.insert",
                1,
                1.0 + duration / 3,
                duration / 4,
                attributes={"db.collection.name": "events", "db.response.rows_affected": 1},
                output={"rows_affected": 1},
                file=f"functions/{fn}.py",
                line=INSERT_LINE,
            )
        )
    return Execution(
        id=eid,
        kind="http",
        function=fn,
        method="POST",
        path=f"/{fn}",
        status=status,
        started_at=at,
        duration_ms=duration,
        request={"body": {"customer_id": customer}},
        response={"status": int(status)},
        error=error,
        spans=spans,
        mutations=mutations,
        code_version="bench",
    )


def build_recorder(path: Path, count: int, url: str | None) -> None:
    rng = random.Random(42)
    now = time.time()
    conn = Sink(path, url)
    started = time.perf_counter()
    batch: list[Execution] = []
    for i in range(count):
        at = now - DAYS * 86400 * (1 - i / count) - 60
        batch.append(synthesise(rng, rng.randrange(FUNCTIONS), at))
        if len(batch) >= BATCH:
            conn.write(batch)
            batch.clear()
            if (i + 1) % 100_000 == 0:
                rate = (i + 1) / (time.perf_counter() - started)
                print(f"  {i + 1:>9,} executions written ({rate:,.0f}/s)", file=sys.stderr)
    if batch:
        conn.write(batch)
    conn.close()


def count_executions(path: Path, url: str | None) -> int:
    import sqlite3

    if url is not None:
        with connect(url) as pg:
            if schema_version(pg) == 0:
                return 0
            row = pg.execute("SELECT count(*) FROM executions").fetchone()
            return int(row[0]) if row else 0
    try:
        conn = sqlite3.connect(path)
        try:
            return int(conn.execute("SELECT COUNT(*) FROM executions").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


def summary(label: str, values: list[float], target: float | None = None) -> str:
    p50, p95 = statistics.median(values), percentile(values, 95) or 0.0
    line = f"{label:<34} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms"
    if target is None:
        return line
    return line + f"  (target p95 ≤ {target:.0f} ms: {'ok' if p95 <= target else 'MISSED'})"


class BenchClient(LanguageClient):
    def __init__(self) -> None:
        super().__init__("flux-bench", "1")
        self.published: dict[str, asyncio.Event] = {}
        self.messages: list[str] = []
        self.seen: dict[str, float] = {}
        """When each execution id was first published as a diagnostic's latest failure."""
        self.changed = asyncio.Event()

        @self.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def diagnostics(ls: BenchClient, params: types.PublishDiagnosticsParams) -> None:
            now = time.perf_counter()
            for diagnostic in params.diagnostics:
                data: Any = diagnostic.data
                latest = data.get("latest") if isinstance(data, dict) else None
                if isinstance(latest, str):
                    ls.seen.setdefault(latest, now)
            event = ls.published.get(params.uri)
            if event is not None:
                event.set()
            ls.changed.set()

        @self.feature(types.WORKSPACE_CONFIGURATION)
        def configuration(ls: BenchClient, params: types.ConfigurationParams) -> list[Any]:
            return [None for _ in params.items]

        @self.feature(types.WINDOW_SHOW_MESSAGE)
        def show(ls: BenchClient, params: types.ShowMessageParams) -> None:
            ls.messages.append(params.message)


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def hover_ms(client: BenchClient, uri: str, line: int, col: int) -> tuple[float, bool]:
    started = time.perf_counter()
    result = await client.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=line, character=col),
        )
    )
    return (time.perf_counter() - started) * 1000, result is not None


PAUSE_SECONDS = 5.0
"""Between opening the files and hovering them: the server prepares hovers while it waits."""
FLOOR_METHOD = "flux/benchFloor"
"""A request no server implements: the answer (method not found) is pygls's dispatch alone."""
HOVER_KINDS = (
    ("why", UPDATE_LINE + 1, 10),  # inside the failing call
    ("call site", INSERT_LINE - 1, 14),  # a ctx call no failure's diagnostic covers
    ("handler", 3, 12),  # `async def handler`
)


async def floor_ms(client: LanguageClient) -> float:
    """One round trip of a request the server answers without work (pygls's floor)."""
    started = time.perf_counter()
    with contextlib.suppress(JsonRpcException):
        await client.protocol.send_request_async(FLOOR_METHOD, {})
    return (time.perf_counter() - started) * 1000


async def start_server(client: LanguageClient, root: Path, command: list[str]) -> None:
    """Start `command` as the client's server over stdio and initialize it on `root`."""
    await client.start_io(*command)
    uri_root = from_fs_path(str(root)) or ""
    caps = types.ClientCapabilities(
        workspace=types.WorkspaceClientCapabilities(configuration=True),
    )
    await client.initialize_async(
        types.InitializeParams(
            capabilities=caps,
            root_uri=uri_root,
            workspace_folders=[types.WorkspaceFolder(uri=uri_root, name="bench")],
        )
    )
    client.initialized(types.InitializedParams())


def open_document(client: LanguageClient, path: Path) -> str:
    uri = from_fs_path(str(path)) or ""
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri, language_id="python", version=1, text=path.read_text()
            )
        )
    )
    return uri


async def stop_server(client: LanguageClient) -> None:
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()


async def measure(root: Path, files: int, url: str | None, pause: float = PAUSE_SECONDS) -> None:
    client = BenchClient()
    await start_server(client, root, [sys.executable, "-m", "flux_lsp", "lsp"])
    server = client._server
    assert server is not None
    open_ms: list[float] = []
    hovers: dict[str, list[float]] = {kind: [] for kind, _line, _col in HOVER_KINDS}
    floor: list[float] = []
    misses = 0
    chosen = random.Random(7).sample(range(FUNCTIONS), files)
    uris: list[str] = []
    for n in chosen:  # every file is opened (each for the first time), then hovered
        path = root / "functions" / f"{name(n)}.py"
        event = client.published.setdefault(from_fs_path(str(path)) or "", asyncio.Event())
        started = time.perf_counter()
        uris.append(open_document(client, path))
        await asyncio.wait_for(event.wait(), 30)
        open_ms.append((time.perf_counter() - started) * 1000)
    await asyncio.sleep(pause)  # as a user reads the code before hovering
    for uri in uris:  # the first hover on each line, with every file open
        for kind, line, col in HOVER_KINDS:
            floor.append(await floor_ms(client))
            ms, found = await hover_ms(client, uri, line, col)
            hovers[kind].append(ms)
            misses += not found
    live_ms: list[float] = []
    fresh_why_ms: list[float] = []
    recorder = root / ".flux" / "recorder.db"
    conn = Sink(recorder, url)
    rng = random.Random(99)
    for n in chosen[:20]:
        uri = from_fs_path(str(root / "functions" / f"{name(n)}.py")) or ""
        event = client.published[uri]
        event.clear()
        execution = synthesise(rng, n, time.time())
        while execution.status != "500":
            execution = synthesise(rng, n, time.time())
        started = time.perf_counter()
        conn.write([execution])
        await asyncio.wait_for(event.wait(), 10)
        live_ms.append((time.perf_counter() - started) * 1000)
        ms, found = await hover_ms(client, uri, *HOVER_KINDS[0][1:])  # its why, at once
        fresh_why_ms.append(ms)
        misses += not found
        await asyncio.sleep(0.3)
    conn.close()
    rss = peak_rss_mb(server.pid)
    await stop_server(client)

    everything = [ms for values in hovers.values() for ms in values]
    print(f"files opened: {files} of {FUNCTIONS}; hovers without a result: {misses}")
    print(summary("didOpen → diagnostics", open_ms, 50))
    print(summary("pygls floor (no-op request)", floor))
    print(summary("hover (all kinds)", everything, 10))
    for kind, values in hovers.items():
        print(summary(f"  hover: {kind}", values, 10))
    print(summary("live: written → published", live_ms, 100))
    print(summary("  then hover: its why", fresh_why_ms))
    status = "ok" if rss <= 150 else "MISSED"
    print(f"{'server peak RSS':<34} {rss:.0f} MB   (target ≤ 150 MB: {status})")
    for message in client.messages:
        print(f"server said: {message}")


def tail_seconds(root: Path, runs: int = 7) -> list[float]:
    """Wall-clock seconds of `flux tail` (the 20 newest executions), run as a command the way
    an installed Flux runs (its bytecode compiled: see `cli_startup.installed_environment`)."""
    env = installed_environment()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "flux_lsp", "tail", "-n", "20", "-p", str(root)],
            capture_output=True,
            check=False,
            env=env,
        )
        times.append(time.perf_counter() - started)
        if done.returncode != 0:
            raise SystemExit(f"flux tail failed: {done.stderr.decode()}")
    return times


def prepare_project(root: Path, executions: int, url: str | None = None) -> None:
    """The function files at `root` and a recorder of at least `executions` (kept from an
    earlier run when it has them), and a line saying what it holds."""
    recorder = root / ".flux" / "recorder.db"
    write_project(root, url)
    existing = count_executions(recorder, url) if recorder.exists() or url else 0
    if existing < executions:
        if recorder.exists():
            for suffix in ("", "-wal", "-shm"):
                Path(str(recorder) + suffix).unlink(missing_ok=True)
        print(f"synthesising {executions:,} executions…", file=sys.stderr)
        started = time.perf_counter()
        build_recorder(recorder, executions, url)
        took = time.perf_counter() - started
        print(f"  done in {took:.0f} s", file=sys.stderr)
    if url is not None:
        with connect(url) as pg:
            size = total_size(pg)
    else:
        size = sum(p.stat().st_size for p in recorder.parent.glob("recorder.db*"))
    print(
        f"recorder ({'PostgreSQL' if url else 'file'}): "
        f"{count_executions(recorder, url):,} executions over {FUNCTIONS} functions, "
        f"{size / 1e6:.0f} MB"
    )


def bench_arguments(description: str) -> argparse.ArgumentParser:
    """The options every bench on this project takes: its size, where to keep it, the pause."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--executions", type=int, default=1_000_000)
    parser.add_argument("--files", type=int, default=FUNCTIONS)
    parser.add_argument("--keep", type=Path, default=None)
    parser.add_argument(
        "--pause", type=float, default=PAUSE_SECONDS, help="seconds between opening and hovering"
    )
    return parser


def main() -> None:
    parser = bench_arguments(__doc__.splitlines()[0])
    parser.add_argument("--recorder-url", default=None, help="a PostgreSQL recorder to use")
    args = parser.parse_args()
    url = args.recorder_url
    root = args.keep or Path(tempfile.mkdtemp(prefix="flux-lsp-bench-"))
    try:
        prepare_project(root, args.executions, url)
        tails = tail_seconds(root)
        best, median = min(tails), statistics.median(tails)
        verdict = "ok" if median <= 0.3 else "MISSED"
        print(
            f"{'flux tail -n 20 (command)':<34} median {median:.3f} s   best {best:.3f} s"
            f"  (target ≤ 0.3 s: {verdict})"
        )
        asyncio.run(measure(root, min(args.files, FUNCTIONS), url, args.pause))
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
