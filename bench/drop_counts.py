"""Drops counted against drops measured: what `flux status` reports after a failure, against
the acknowledged request ids missing from the recorder.

Runs `flux dev` on a copy of the example shop as a real process, loads it from 4 clients,
and per scenario prints the requests acknowledged, the ids missing from the recorder, and what
`flux status --json` counted (exact drops, plus the estimate for a killed process):

- `writer-killed`: the recorder writer process is SIGKILLed a third of the way in;
- `app-killed`: the `flux dev` process itself is SIGKILLed half way;
- `tiny-disk` (as root only): the recorder lives on a 512 kB tmpfs.

    python bench/drop_counts.py [--seconds 4] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.harness import copy_shop
from tests.recorder.test_drop_counts import DropFigures, drop_scenario


def show(name: str, figures: DropFigures) -> None:
    within = figures.exact <= figures.missing <= figures.dropped
    print(
        f"{name:<14} acknowledged {figures.acknowledged:>5}  missing {figures.missing:>5}  "
        f"status: dropped {figures.dropped:>5} (exact {figures.exact}, "
        f"≈ {figures.dropped_estimated} estimated)  {'within' if within else 'OUTSIDE'} the "
        f"estimate  · problem: {figures.problem}"
    )


def tiny_disk(root: Path, seconds: float) -> None:
    mount = root / "tiny"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mount)]).returncode:
        print("tiny-disk      skipped: cannot mount a tmpfs")
        return
    try:
        shop = copy_shop(root / "disk")
        with (shop / "flux.toml").open("a") as toml:
            toml.write(f'\n[recorder]\npath = "{mount / "recorder.db"}"\n')
        show("tiny-disk", drop_scenario(shop, kill_writer=False, seconds=seconds))
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(args.runs):
            shop = copy_shop(Path(tmp) / f"killed{run}")
            show("writer-killed", drop_scenario(shop, kill_writer=True, seconds=args.seconds))
        for run in range(args.runs):
            shop = copy_shop(Path(tmp) / f"app{run}")
            figures = drop_scenario(shop, kill_writer=False, kill_app=True, seconds=args.seconds)
            show("app-killed", figures)
        if os.geteuid() == 0:
            tiny_disk(Path(tmp), args.seconds)


if __name__ == "__main__":
    main()
