"""`flux tail -n 20` against two projects in turn: wall time and CPU time of each command.

Meant for a project recording to a file and one recording to PostgreSQL (the language-server
bench's `--keep` folders), run alternately so that the machine's other work weighs on both
alike; prints the median wall and CPU seconds of each and their ratios. The commands run the way
an installed Flux runs, its bytecode compiled (see `cli_startup.installed_environment`).
`--command status` times `flux status` instead.

    .venv/bin/python bench/tail_backends.py FILE_PROJECT POSTGRES_PROJECT [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
from pathlib import Path
from time import perf_counter

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cli_startup import installed_environment


def run(project: Path, env: dict[str, str], command: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one `flux <command>` in `project`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "flux_lsp", *command, "-p", str(project)],
        capture_output=True,
        check=False,
        env=env,
    )
    wall = perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        said = done.stderr.decode().strip()
        raise SystemExit(f"flux {' '.join(command)} failed in {project}: {said}")
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("projects", type=Path, nargs=2)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--command", default="tail -n 20", help="the flux command to time")
    args = parser.parse_args()
    walls: dict[Path, list[float]] = {p: [] for p in args.projects}
    cpus: dict[Path, list[float]] = {p: [] for p in args.projects}
    env = installed_environment()
    for _ in range(args.runs):
        for project in args.projects:
            wall, cpu = run(project, env, args.command.split())
            walls[project].append(wall)
            cpus[project].append(cpu)
    for project in args.projects:
        wall, cpu = statistics.median(walls[project]), statistics.median(cpus[project])
        print(
            f"flux {args.command} in {project.name:<20} wall median {wall:.3f} s"
            f"  best {min(walls[project]):.3f} s  CPU median {cpu:.3f} s"
        )
    first, second = args.projects
    print(
        f"ratio {second.name}/{first.name}: wall "
        f"{statistics.median(walls[second]) / statistics.median(walls[first]):.2f}, CPU "
        f"{statistics.median(cpus[second]) / statistics.median(cpus[first]):.2f}"
        f"   (load average {os.getloadavg()[0]:.1f})"
    )


if __name__ == "__main__":
    main()
