"""`flux tail -f -n 1` on a busy recorder: how long until it shows the newest execution, and
how long a new one takes to appear, with N executions recorded in the last few minutes.

`flux tail -f` first marks what the recorder holds as already seen (it reads the follower's
look-back window once), so its start-up grows with the executions recorded in the last five
minutes; the figure beside it is the same command without `-f`, measured in the same run.
Each new execution is written through the recorder's own write path (`write_batch`).

    python bench/tail_follow.py [--executions 1000 10000] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.cli_startup import synthetic
from flux_lsp.recorder.writer import open_for_writing, write_batch

FLUX = [sys.executable, "-m", "flux_lsp", "tail", "--json", "-n", "1", "--recorder"]


def first_line(recorder: Path, follow: bool) -> tuple[float, subprocess.Popen[str]]:
    """Seconds from launch to the first printed line, and the still-running process."""
    start = time.perf_counter()
    process = subprocess.Popen(
        [*FLUX, str(recorder), *(["-f"] if follow else [])],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    process.stdout.readline()
    return time.perf_counter() - start, process


def measure(count: int, runs: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        recorder = Path(tmp) / "recorder.db"
        conn = open_for_writing(recorder)
        t0 = time.time() - count * 0.05 - 1  # all within the follower's look-back when small
        write_batch(conn, (synthetic(i, t0) for i in range(count)))
        plain, follow, news = [], [], []
        for _ in range(runs):
            seconds, process = first_line(recorder, follow=False)
            process.wait()
            plain.append(seconds)
            seconds, process = first_line(recorder, follow=True)
            follow.append(seconds)
            new = synthetic(count, time.time())
            written = time.perf_counter()
            write_batch(conn, [new])
            assert process.stdout is not None
            line = json.loads(process.stdout.readline())
            news.append(time.perf_counter() - written)
            assert line["id"] == new.id, "flux tail -f printed an older execution"
            process.terminate()
            process.wait()
        conn.close()
    return {
        "tail": statistics.median(plain),
        "tail -f": statistics.median(follow),
        "new line": statistics.median(news),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executions", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(f"{'executions':>10}  {'tail -n 1':>10}  {'tail -f -n 1':>12}  {'new line':>9}")
    for count in args.executions:
        m = measure(count, args.runs)
        print(f"{count:>10,}  {m['tail']:>9.3f}s  {m['tail -f']:>11.3f}s  {m['new line']:>8.3f}s")


if __name__ == "__main__":
    main()
