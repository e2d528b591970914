"""How fast `flux test` runs regression cases (target: 1,000 cases in under 10 s).

Serves the seed's traffic live through the gateway into a scratch copy of the example shop
(per customer: signup, confirm_email, a signed Stripe webhook, create_user), saves cases from
those recordings with `capture_case` (as `flux test add` does: setup steps found, rows read
from a sandbox, redaction), and writes `--cases` case files by repeating the saved ones under
new names. Then runs them all with `run_cases` — each on its own fresh database copied from the
migrated template — and prints cases per second, the time for the whole run, and the mix of
steps per case. Prints the capture rate too.

    .venv/bin/python bench/regression_cases.py [--cases 1000] [--saved 40]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import time
from pathlib import Path

import httpx

from flux_lsp.project import Project
from flux_lsp.recorder.query import ExecutionQuery
from flux_lsp.recorder.sqlite_store import SQLiteStore
from flux_lsp.recorder.writer import RecorderWriter
from flux_lsp.replay.capture import capture_case
from flux_lsp.replay.case import CASES_DIR, dump_case
from flux_lsp.replay.regression import run_cases
from flux_lsp.runtime.gateway import create_app
from flux_lsp.runtime.runtime import Runtime
from flux_lsp.runtime.stripe import signed_webhook

SHOP = Path(__file__).resolve().parent.parent / "examples" / "shop"
SECRET = "whsec_flux_example_secret"


async def record(project: Project, customers: int) -> None:
    writer = RecorderWriter(project.recorder_path, queue_size=customers * 4 + 100)
    runtime = Runtime(project, writer)
    await runtime.start()
    transport = httpx.ASGITransport(app=create_app(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        for n in range(customers):
            customer = f"cus_{n}"
            signup = {"email": f"{customer}@x.com", "customer_id": customer}
            await client.post("/signup", json=signup)
            await client.post("/confirm_email", json={"customer_id": customer})
            event = {
                "id": f"evt_{n}",
                "type": "payment_intent.succeeded",
                "data": {"object": {"customer_id": customer, "amount": 4900}},
            }
            content, headers = signed_webhook(event, SECRET)
            await client.post("/stripe_webhook", content=content, headers=headers)
            await client.post("/create_user", json={"email": f"extra{n}@x.com", "name": "X"})
    writer.flush(timeout=60)
    writer.close()
    await runtime.stop()


async def main(total: int, saved: int) -> None:
    scratch = Path(tempfile.mkdtemp(prefix="flux-bench-test-"))
    try:
        project_dir = scratch / "shop"
        shutil.copytree(SHOP, project_dir, ignore=shutil.ignore_patterns(".flux", "__pycache__"))
        project = Project.load(project_dir)
        await record(project, max(saved // 4, 1))
        store = await SQLiteStore.open(project.recorder_path)
        try:
            executions = await store.executions(ExecutionQuery(kind="http", limit=saved))
            start = time.perf_counter()
            cases = [await capture_case(project, store, e.id) for e in executions]
            captured = time.perf_counter() - start
        finally:
            await store.close()
        folder = project_dir / CASES_DIR
        folder.mkdir(parents=True)
        for n in range(total):
            case = cases[n % len(cases)]
            case.name = f"case_{n:05d}"
            (folder / f"{case.name}.json").write_text(dump_case(case))
        steps = sum(len(cases[n % len(cases)].steps) for n in range(total))

        start, cpu = time.perf_counter(), time.process_time()
        report = await run_cases(project, [folder])
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        s = report.summary
        assert s.cases == total and s.passed == total, report.summary_line
        print(f"saved {len(cases)} cases from recordings: {len(cases) / captured:,.0f} cases/s")
        print(
            f"ran {total:,} cases ({steps / total:.2f} steps per case) in {elapsed:.2f} s: "
            f"{total / elapsed:,.0f} cases/s  (target: {total:,} in < 10 s)"
        )
        print(f"CPU time of the run: {cpu:.2f} s ({total / cpu:,.0f} cases per CPU-second)")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--saved", type=int, default=40)
    args = parser.parse_args()
    asyncio.run(main(args.cases, args.saved))
