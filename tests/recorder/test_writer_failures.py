"""Recording never breaks the app: a locked or deleted recorder drops records, counted."""

from __future__ import annotations

import itertools
import json
import sqlite3
from pathlib import Path

from flux_lsp.recorder.sqlite_store import SQLiteStore
from flux_lsp.recorder.writer import health_path
from tests.harness import FluxApp

_emails = itertools.count()


async def _send(flux: FluxApp, n: int) -> list[int]:
    statuses = []
    for _ in range(n):
        r = await flux.client.post(
            "/create_user", json={"email": f"u{next(_emails)}@x", "name": "n"}
        )
        statuses.append(r.status_code)
        r = await flux.client.post("/create_user", json={"name": "no email"})
        statuses.append(r.status_code)
    return statuses


async def test_locked_recorder_keeps_serving_and_counts_drops(shop: Path) -> None:
    async with FluxApp(shop) as flux:
        assert await _send(flux, 3) == [201, 400] * 3
        flux.flush()
        assert flux.writer.dropped == 0
        # Another process holds the write lock on the recorder file.
        locker = sqlite3.connect(flux.project.recorder_path, isolation_level=None, timeout=0)
        locker.execute("BEGIN EXCLUSIVE")
        try:
            assert await _send(flux, 5) == [201, 400] * 5
            flux.flush()
            assert flux.writer.dropped == 10
            assert "recorder write failed" in (flux.writer.last_problem or "")
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        # Once the lock is gone recording resumes.
        assert await _send(flux, 1) == [201, 400]
        flux.flush()
        assert flux.writer.recorded == 8
    # the writer process leaves its final counts next to the recorder for `flux status`
    health = json.loads(health_path(flux.project.recorder_path).read_text())
    assert health["dropped"] == 10 and health["recorded"] == 8
    async with await SQLiteStore.open(flux.project.recorder_path) as store:
        stats = await store.stats()
    assert stats.executions == 8 and stats.dropped == 10
    assert stats.problem and "recorder write failed" in stats.problem


async def test_deleted_recorder_keeps_serving_and_counts_drops(shop: Path) -> None:
    async with FluxApp(shop) as flux:
        assert await _send(flux, 2) == [201, 400] * 2
        flux.flush()
        for p in flux.project.state_dir.glob("recorder.db*"):
            p.unlink()
        assert await _send(flux, 4) == [201, 400] * 4
        flux.flush()
        assert flux.writer.recorded == 4
        assert flux.writer.dropped == 8
        assert "was removed" in (flux.writer.last_problem or "")


async def test_recorder_in_an_unwritable_place_still_serves(shop: Path) -> None:
    (shop / "flux.toml").write_text(
        (shop / "flux.toml").read_text() + '\n[recorder]\npath = "blocked/recorder.db"\n'
    )
    (shop / "blocked").write_text("a file where the recorder folder should be")
    async with FluxApp(shop) as flux:
        assert await _send(flux, 3) == [201, 400] * 3
        flux.flush()
        assert flux.writer.dropped == 6 and flux.writer.recorded == 0
        assert "cannot open recorder" in (flux.writer.last_problem or "")


async def test_full_queue_drops_and_counts(shop: Path) -> None:
    async with FluxApp(shop) as flux:
        flux.writer.queue_size = 1  # a writer that cannot keep up
        locker = sqlite3.connect(flux.project.recorder_path, isolation_level=None, timeout=0)
        locker.execute("BEGIN EXCLUSIVE")
        try:
            statuses = await _send(flux, 10)
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        assert statuses == [201, 400] * 10
        flux.flush()
        assert flux.writer.dropped + flux.writer.recorded == 20
        assert flux.writer.dropped >= 1


async def test_killed_writer_process_is_counted_and_replaced(shop: Path) -> None:
    async with FluxApp(shop) as flux:
        flux.writer.restart_seconds = 0.0
        assert await _send(flux, 2) == [201, 400] * 2
        flux.flush()
        assert flux.writer.recorded == 4
        process = flux.writer._process
        assert process is not None
        process.kill()
        process.wait()
        # Requests are served while the writer is gone; what it never took is counted.
        assert await _send(flux, 3) == [201, 400] * 3
        flux.flush()
        assert flux.writer.recorded + flux.writer.dropped == 10
        assert flux.writer.dropped >= 1
        assert "recorder writer stopped" in (flux.writer.last_problem or "")
        # A new writer process takes over: later records are written again.
        before = flux.writer.recorded
        assert await _send(flux, 2) == [201, 400] * 2
        flux.flush()
        assert flux.writer.recorded == before + 4
