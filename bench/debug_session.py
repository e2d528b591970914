"""How long `flux debug <id>` takes from the command to the debugger stopped on the failing line.

Records the seed's failing Stripe webhook in a copy of the example shop (a signup, then the
payment webhook that fails at stripe_webhook.py:12), then, round after round, runs
`python -m flux_lsp debug <id> --json` as a user would, attaches a real DAP client (the tests'
client: initialize, attach, configurationDone) to the port it prints, and waits for the
`stopped` event on the failing line. Prints p50 and p95 of the whole (goal: at most 2 s) and of
its two parts: the command until it prints where it listens (interpreter start, sandbox,
debugpy's adapter), and attaching until stopped. As a same-run baseline, each round also runs
`flux replay <id>` (the same re-run without a debugger, command to exit), so a busy machine
shows in both figures, and the CPU time of both processes, which a busy machine does not
inflate.

    .venv/bin/python bench/debug_session.py [--rounds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the tests' DAP client

from flux_lsp.project import Project  # noqa: E402
from flux_lsp.recorder.writer import RecorderWriter  # noqa: E402
from flux_lsp.runtime.gateway import create_app  # noqa: E402
from flux_lsp.runtime.runtime import Runtime  # noqa: E402
from flux_lsp.runtime.stripe import signed_webhook  # noqa: E402
from tests.replay.dap import DapClient, start_debug  # noqa: E402

SHOP = ROOT / "examples" / "shop"
SECRET = "whsec_flux_example_secret"


async def record_failure(project: Project) -> str:
    """The id of the recorded failing webhook."""
    writer = RecorderWriter(project.recorder_path)
    runtime = Runtime(project, writer)
    await runtime.start()
    transport = httpx.ASGITransport(app=create_app(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        signup = {"email": "b@x.com", "customer_id": "cus_ABC", "name": "Bea"}
        assert (await client.post("/signup", json=signup)).status_code == 201
        event = {
            "id": "evt_1",
            "type": "payment_intent.succeeded",
            "data": {"object": {"customer_id": "cus_ABC", "amount": 4900}},
        }
        body, headers = signed_webhook(event, SECRET)
        response = await client.post("/stripe_webhook", content=body, headers=headers)
        assert response.status_code == 500
        ident = response.headers["x-flux-request-id"]
    writer.close()
    await runtime.stop()
    return ident


async def one_round(project: Path, ident: str) -> tuple[float, float]:
    """(seconds until the endpoint line, seconds from then until stopped at the failing line)."""
    start = time.perf_counter()
    run = await start_debug(project, ident)
    listening = time.perf_counter()
    dap = await DapClient.connect(run.endpoint["host"], run.endpoint["port"])
    try:
        await dap.attach()
        stop = await dap.stopped()
        stopped = time.perf_counter()
        assert stop.line == 12 and stop.variables["customer_id"] == "'cus_ABC'", stop
        await dap.request("continue", threadId=stop.thread)
        code, _, _ = await run.finish()
        assert code == 1
    finally:
        await dap.close()
    return listening - start, stopped - listening


async def replay_round(project: Path, ident: str) -> float:
    """Seconds for `flux replay <id>` from the command to its exit."""
    start = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "flux_lsp", "replay", ident, "-p", str(project),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    assert await process.wait() == 1  # still failing
    return time.perf_counter() - start


def children_cpu() -> float:
    """CPU seconds of the finished child processes (the debug adapter, a daemon, is not one)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="flux-bench-debug-"))
    try:
        shutil.copytree(SHOP, folder / "shop", ignore=shutil.ignore_patterns(".flux"))
        project = Project.load(folder / "shop")
        ident = await record_failure(project)
        await one_round(project.root, ident)  # warm the file cache
        listen, attach, replay, debug_cpu, replay_cpu = [], [], [], [], []
        for _ in range(args.rounds):
            before = children_cpu()
            a, b = await one_round(project.root, ident)
            middle = children_cpu()
            listen.append(a)
            attach.append(b)
            replay.append(await replay_round(project.root, ident))
            debug_cpu.append(middle - before)
            replay_cpu.append(children_cpu() - middle)
        total = [a + b for a, b in zip(listen, attach, strict=True)]
        where = "command → stopped at stripe_webhook.py:12"
        print(f"flux debug {ident[:8]}: {where}, {args.rounds} rounds")
        for name, values in (
            ("command → stopped (total)", total),
            ("  command → listening", listen),
            ("  attach → stopped", attach),
            ("baseline: flux replay <id>", replay),
            ("CPU of the flux debug process", debug_cpu),
            ("CPU of flux replay", replay_cpu),
        ):
            print(
                f"  {name:28} p50 {statistics.median(values) * 1000:6.0f} ms"
                f"   p95 {percentile(values, 95) * 1000:6.0f} ms"
            )
        print(f"  goal p95 ≤ 2000 ms: {'met' if percentile(total, 95) <= 2.0 else 'NOT met'}")
        load = " ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"  load average: {load} on {os.cpu_count()} CPUs")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
