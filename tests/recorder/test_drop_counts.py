"""Every drop is counted, durably: against a real `flux dev` process, the recorder writer
SIGKILLed under load, and the recorder on a disk too small for it. `flux status` must report
what was lost (exact counts plus an estimate for a killed process), matched against the
acknowledged request ids missing from the recorder.

`drop_scenario` is shared with `bench/drop_counts.py`, which prints the same figures.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from flux_lsp.project import Project
from tests.harness import copy_shop
from tests.serve.helpers import ServeProcess


@dataclass(slots=True)
class DropFigures:
    acknowledged: int
    missing: int
    dropped: int
    dropped_estimated: int
    problem: str | None
    note: str | None
    served_ok: bool

    @property
    def exact(self) -> int:
        return self.dropped - self.dropped_estimated


def writer_pid(parent: int) -> int | None:
    """The recorder writer process among `parent`'s children."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == parent and "flux_lsp.recorder.writer_process" in cmdline:
            return int(entry.name)
    return None


def _load(url: str, seconds: float, ids: list[str], statuses: list[int]) -> None:
    deadline = time.monotonic() + seconds
    n = 0
    with httpx.Client(base_url=url, timeout=30) as client:
        while time.monotonic() < deadline:
            n += 1
            body = {"email": f"t{threading.get_ident()}-{n}@x", "name": "n" * 200}
            try:
                r = client.post("/create_user", json=body)
            except httpx.TransportError:  # the server was killed: nothing more is answered
                return
            statuses.append(r.status_code)
            if "x-flux-request-id" in r.headers:
                ids.append(r.headers["x-flux-request-id"])


def _recorded_ids(recorder: Path) -> set[str]:
    conn = sqlite3.connect(f"file:{recorder}?mode=ro", uri=True)
    try:
        return {row[0] for row in conn.execute("SELECT id FROM executions")}
    except sqlite3.Error:  # a recorder the full disk left without its tables holds none
        return set()
    finally:
        conn.close()


def _status(project: Path) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-m", "flux_lsp", "status", "--json", "-p", str(project)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.stdout, out.stderr
    report = json.loads(out.stdout)
    assert isinstance(report, dict)
    return report


def drop_scenario(
    project: Path, *, kill_writer: bool, seconds: float = 4.0, kill_app: bool = False
) -> DropFigures:
    """Load `flux dev` on `project` from 4 clients for `seconds`, SIGKILL its recorder writer
    a third of the way in (with `kill_writer`) or the server itself half way (with
    `kill_app`), stop the server, and compare."""
    ids: list[str] = []
    statuses: list[int] = []
    with ServeProcess(project, command="dev", token=None) as server:
        assert server.process is not None
        clients = [
            threading.Thread(target=_load, args=(server.url, seconds, ids, statuses))
            for _ in range(4)
        ]
        for c in clients:
            c.start()
        if kill_writer:
            time.sleep(seconds / 3)
            pid = writer_pid(server.process.pid)
            assert pid is not None, "no recorder writer process found"
            os.kill(pid, signal.SIGKILL)
        if kill_app:
            time.sleep(seconds / 2)
            writer = writer_pid(server.process.pid)
            server.process.kill()
            server.process.wait()
            while writer is not None and Path(f"/proc/{writer}").exists():
                time.sleep(0.05)  # the writer finishes what was handed over, then exits
        for c in clients:
            c.join()
    present = _recorded_ids(Project.load(project).recorder_path)
    missing = sum(1 for i in ids if i.removeprefix("req:") not in present and i not in present)
    report = _status(project)
    return DropFigures(
        acknowledged=len(ids),
        missing=missing,
        dropped=int(report["dropped"]),  # type: ignore[call-overload]
        dropped_estimated=int(report.get("dropped_estimated") or 0),  # type: ignore[call-overload]
        problem=report.get("problem"),  # type: ignore[arg-type]
        note=report.get("dropped_note"),  # type: ignore[arg-type]
        served_ok=bool(statuses) and all(s < 500 for s in statuses),
    )


def test_writer_killed_under_load_drops_are_counted(tmp_path: Path) -> None:
    shop = copy_shop(tmp_path)
    figures = drop_scenario(shop, kill_writer=True)
    assert figures.served_ok and figures.acknowledged > 100
    assert figures.missing > 0, "the kill lost nothing: the test did not test"
    assert figures.dropped > 0
    # the exact counts are a floor, the estimate bounds the rest
    assert figures.exact <= figures.missing <= figures.dropped, figures
    assert figures.problem and "writer stopped" in figures.problem
    assert figures.note and "lost when the writer was killed" in figures.note


def test_app_killed_under_load_loss_is_estimated(tmp_path: Path) -> None:
    shop = copy_shop(tmp_path)
    figures = drop_scenario(shop, kill_writer=False, kill_app=True)
    assert figures.acknowledged > 50
    # what the killed app held is estimated (a bound: one hand-off's worth of records)
    assert figures.missing <= figures.dropped, figures
    assert figures.dropped == figures.dropped_estimated
    if figures.missing:
        assert figures.note and "lost when the app was killed" in figures.note


def test_counts_survive_a_restarted_app(tmp_path: Path) -> None:
    shop = copy_shop(tmp_path)
    first = drop_scenario(shop, kill_writer=True, seconds=2.0)
    assert first.dropped > 0
    # a later run with no trouble keeps showing what earlier runs lost
    second = drop_scenario(shop, kill_writer=False, seconds=1.0)
    assert second.dropped >= first.dropped


@pytest.fixture
def tiny_disk(tmp_path: Path):  # type: ignore[no-untyped-def]
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_full_disk_serves_counts_and_names_the_problem(tmp_path: Path, tiny_disk: Path) -> None:
    shop = copy_shop(tmp_path)
    (shop / ".flux").mkdir(exist_ok=True)
    recorder = tiny_disk / "recorder.db"
    with (shop / "flux.toml").open("a") as toml:
        toml.write(f'\n[recorder]\npath = "{recorder}"\n')
    ids: list[str] = []
    statuses: list[int] = []
    with ServeProcess(shop, command="dev", token=None) as server:
        _load(server.url, 4.0, ids, statuses)
        log = server
    assert statuses and all(s < 500 for s in statuses)
    report = _status(shop)
    assert int(report["dropped"]) > 0  # type: ignore[call-overload]
    assert "disk full" in str(report["problem"])
    # the problem was said once, not once per request
    assert log.output().count("disk full") == 1
