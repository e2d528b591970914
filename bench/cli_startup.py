"""How fast `flux tail --limit 20` answers against a recorder of 100,000 executions.

Synthesises the recorder through the recorder's own write path (`open_for_writing` +
`write_batch`), then runs `flux tail --limit 20` as a subprocess several times and prints the
median wall time beside the median of `python -c pass` run in turn with it (the floor any
Python command pays), and their ratio. Targets: under 0.3 s, and at most 11× `python -c pass`.

It measures what an installed Flux does: pip compiles an installed package's bytecode, so the
bench compiles Flux's (`compileall`) and runs every command without `PYTHONDONTWRITEBYTECODE`
(an environment that sets it would otherwise make each run compile every Flux module again,
which no installed Flux does).

    python bench/cli_startup.py [--executions 100000] [--runs 15]
"""

from __future__ import annotations

import argparse
import compileall
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import flux_lsp
from flux_lsp.model import ErrorInfo, Execution, Location, Mutation, Span, new_execution_id
from flux_lsp.recorder.writer import open_for_writing, write_batch

TARGET_SECONDS = 0.3
TARGET_RATIO = 11.0
"""`flux tail --limit 20` over `python -c pass`, measured in the same run."""


def synthetic(i: int, t0: float) -> Execution:
    """One recorded webhook or signup, every tenth one failing, as the runtime records them."""
    eid = new_execution_id()
    failed = i % 10 == 0
    started = t0 + i * 0.05
    where = {"customer_id": f"cus_{i}"}
    spans = [
        Span(0, "gateway", None, 0.0, 30.0, "error" if failed else "ok", input="POST /x"),
        Span(1, "function", None, 1.0, 27.0, "error" if failed else "ok",
             attributes={"code.function.name": "stripe_webhook"},
             file="functions/stripe_webhook.py", line=5),
        Span(2, "db.update", 1, 2.0, 1.0, "error" if failed else "ok",
             attributes={"db.collection.name": "subscriptions"},
             input={"where": where, "values": {"status": "active"}},
             output={"rows_affected": 0 if failed else 1},
             file="functions/stripe_webhook.py", line=12),
        Span(3, "response", None, 29.0, 0.5, "skipped" if failed else "ok",
             output={"status": "500" if failed else "200"}),
    ]  # fmt: skip
    error = None
    if failed:
        message = f"Row not found: subscriptions WHERE customer_id = 'cus_{i}'"
        error = ErrorInfo(
            "RowNotFound", message, Location("functions/stripe_webhook.py", 12, 8, 16, 9)
        )
    body = {
        "id": f"evt_{i}",
        "type": "payment_intent.succeeded",
        "data": {"object": {"customer_id": f"cus_{i}", "amount": 4900}},
    }
    return Execution(
        id=eid,
        kind="http",
        function="stripe_webhook",
        method="POST",
        path="/stripe_webhook",
        status="500" if failed else "200",
        started_at=started,
        duration_ms=30.0,
        request={"method": "POST", "path": "/stripe_webhook", "headers": {}, "body": body},
        response={"status": 500 if failed else 200, "headers": {}, "body": "ok"},
        error=error,
        spans=spans,
        mutations=[
            Mutation(
                eid,
                0,
                "subscriptions",
                "update",
                None if failed else f"s_{i}",
                None if failed else {"customer_id": f"cus_{i}", "status": "pending"},
                None if failed else {"customer_id": f"cus_{i}", "status": "active"},
                0 if failed else 1,
                started + 0.002,
                where,
            )
        ],
        code_version="bench",
    )


def build_recorder(path: Path, count: int) -> float:
    started = time.perf_counter()
    conn = open_for_writing(path)
    t0 = time.time() - count * 0.05
    batch: list[Execution] = []
    for i in range(count):
        batch.append(synthetic(i, t0))
        if len(batch) == 1000:
            write_batch(conn, batch)
            batch = []
    if batch:
        write_batch(conn, batch)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return time.perf_counter() - started


def flux_command() -> list[str]:
    exe = Path(sys.executable).with_name("flux")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "flux_lsp"]


def installed_environment() -> dict[str, str]:
    """The environment the commands run in: bytecode cached, as for an installed Flux."""
    compileall.compile_dir(Path(flux_lsp.__file__).parent, quiet=1)
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def medians(commands: list[list[str]], runs: int, env: dict[str, str]) -> list[float]:
    """The median wall seconds of each command, run in turn `runs` times (interleaved, so
    that what else the machine does weighs on every command alike)."""
    times: list[list[float]] = [[] for _ in commands]
    for _ in range(runs):
        for command, spent in zip(commands, times, strict=True):
            started = time.perf_counter()
            subprocess.run(
                command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env
            )
            spent.append(time.perf_counter() - started)
    return [statistics.median(spent) for spent in times]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executions", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="flux-bench-"))
    try:
        recorder = folder / "recorder.db"
        build_seconds = build_recorder(recorder, args.executions)
        size_mb = os.path.getsize(recorder) / 1e6
        print(
            f"recorder: {args.executions:,} executions, {size_mb:.0f} MB, "
            f"written in {build_seconds:.1f} s"
        )
        tail = [*flux_command(), "tail", "--limit", "20", "--recorder", str(recorder)]
        env = installed_environment()
        # warm the OS cache and the bytecode cache once, as any second invocation would be
        subprocess.run(tail, check=True, stdout=subprocess.DEVNULL, env=env)
        baseline, tail_s, json_s = medians(
            [[sys.executable, "-c", "pass"], tail, [*tail, "--json"]], args.runs, env
        )
        why_id = (
            "req:"
            + subprocess.run(
                [*tail, "--json", "--limit", "1", "--filter", "status=500"],
                check=True,
                capture_output=True,
                text=True,
                env=env,
            ).stdout.split('"id": "')[1][:8]
        )
        why = [*flux_command(), "why", why_id, "--recorder", str(recorder)]
        (why_s,) = medians([why], 5, env)
        print(f"python -c pass             median {baseline * 1000:6.0f} ms  ({args.runs} runs)")
        print(f"flux tail --limit 20       median {tail_s * 1000:6.0f} ms  ({args.runs} runs)")
        print(f"flux tail --limit 20 --json median {json_s * 1000:5.0f} ms  ({args.runs} runs)")
        print(f"flux why <failed id>       median {why_s * 1000:6.0f} ms  (5 runs)")
        verdict = "meets" if tail_s < TARGET_SECONDS else "MISSES"
        print(
            f"flux tail over python startup: +{(tail_s - baseline) * 1000:.0f} ms; "
            f"{verdict} the {TARGET_SECONDS:.1f} s target"
        )
        ratio = tail_s / baseline
        verdict = "ok" if ratio <= TARGET_RATIO else "MISSED"
        print(
            f"flux tail / python -c pass: {ratio:.1f}x  (target <= {TARGET_RATIO:.0f}x: {verdict})"
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
