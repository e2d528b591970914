"""Flux's hover against jedi-language-server's, on the same lines of the same 200 open files.

Users run both servers side by side, so the editor's hover waits for the slower one. This
script builds (or reuses) `bench/lsp_latency.py`'s project — 200 function files and a recorder
of 1,000,000 executions — starts `flux lsp` and `jedi-language-server` over stdio with real
pygls clients, opens the same files in both, waits as a user reading the code would
(`PAUSE_SECONDS`), then hovers the same lines in both, alternating between the servers line by
line so both see the same load: the failing line (Flux: the why report), a `ctx.db.insert`
call no failure covers (call-site results) and `def handler` (run statistics). It prints each
server's p50/p95 per hover kind, the ratio Flux/jedi of the p95s (goal ≤ 1.0), and the pygls
round-trip floor of each server measured in the same run (a request neither implements).

    .venv/bin/python bench/hover_vs_jedi.py [--keep DIR] [--executions 1000000] [--files 200]
        [--pause 5]
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from pygls.uris import from_fs_path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from lsp_latency import (
    FUNCTIONS,
    HOVER_KINDS,
    BenchClient,
    bench_arguments,
    floor_ms,
    hover_ms,
    name,
    open_document,
    prepare_project,
    start_server,
    stop_server,
)

from flux_lsp.analysis.stats import percentile


def jedi_command() -> list[str]:
    """jedi-language-server from the same environment (the `bench` extra installs it)."""
    script = Path(sys.executable).with_name("jedi-language-server")
    found = str(script) if script.exists() else shutil.which("jedi-language-server")
    if found is None:
        raise SystemExit("jedi-language-server is not installed: pip install -e '.[bench]'")
    return [found]


def p95(values: list[float]) -> float:
    return percentile(values, 95) or 0.0


async def compare(root: Path, files: int, pause: float) -> None:
    servers = {
        "flux": [sys.executable, "-m", "flux_lsp", "lsp"],
        "jedi": jedi_command(),
    }
    clients = {label: BenchClient() for label in servers}
    for label, command in servers.items():
        await start_server(clients[label], root, command)
    paths = [root / "functions" / f"{name(n)}.py" for n in range(files)]
    uris: list[str] = []
    for path in paths:  # the same files, opened in both
        uri = from_fs_path(str(path)) or ""
        published = clients["flux"].published.setdefault(uri, asyncio.Event())
        for client in clients.values():
            open_document(client, path)
        uris.append(uri)
        await asyncio.wait_for(published.wait(), 60)  # Flux's diagnostics are out
        await floor_ms(clients["jedi"])  # and jedi has handled the open
    await asyncio.sleep(pause)
    hovers = {label: {kind: [] for kind, _l, _c in HOVER_KINDS} for label in clients}
    answered = {label: 0 for label in clients}
    floors: dict[str, list[float]] = {label: [] for label in clients}
    for index, uri in enumerate(uris):
        for kind, line, col in HOVER_KINDS:
            order = list(clients.items())
            if index % 2:
                order.reverse()  # neither server always goes first
            for label, client in order:
                floors[label].append(await floor_ms(client))
                ms, found = await hover_ms(client, uri, line, col)
                hovers[label][kind].append(ms)
                answered[label] += found
    for client in clients.values():
        await stop_server(client)

    total = files * len(HOVER_KINDS)
    print(
        f"files open in both: {files}; hovers answered: flux {answered['flux']}/{total}, "
        f"jedi {answered['jedi']}/{total}"
    )
    print(
        f"{'':<22}{'flux p50':>10}{'flux p95':>10}{'jedi p50':>10}{'jedi p95':>10}"
        f"{'flux/jedi p95':>15}"
    )
    for label, values in (("pygls floor", floors),):
        print(
            f"{label:<22}{statistics.median(values['flux']):>10.1f}{p95(values['flux']):>10.1f}"
            f"{statistics.median(values['jedi']):>10.1f}{p95(values['jedi']):>10.1f}"
        )
    for kind, _line, _col in HOVER_KINDS:
        flux, jedi = hovers["flux"][kind], hovers["jedi"][kind]
        ratio = p95(flux) / p95(jedi) if p95(jedi) else float("inf")
        verdict = "ok" if ratio <= 1.0 else "MISSED"
        print(
            f"{'hover: ' + kind:<22}{statistics.median(flux):>10.1f}{p95(flux):>10.1f}"
            f"{statistics.median(jedi):>10.1f}{p95(jedi):>10.1f}{ratio:>10.2f}×"
            f"  (goal ≤ 1.0: {verdict})"
        )
    print("(milliseconds)")


def main() -> None:
    parser = bench_arguments(__doc__.splitlines()[0])
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="flux-hover-vs-jedi-"))
    try:
        prepare_project(root, args.executions)
        started = time.perf_counter()
        asyncio.run(compare(root, min(args.files, FUNCTIONS), args.pause))
        print(f"took {time.perf_counter() - started:.0f} s", file=sys.stderr)
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
