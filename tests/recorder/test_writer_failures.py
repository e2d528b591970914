"""Recording never breaks the app: a locked or deleted recorder file, or a PostgreSQL server
stopped mid-traffic, drops records, counted, and recording resumes by itself."""

from __future__ import annotations

import asyncio
import itertools
import json
import sqlite3
from pathlib import Path

from flux_lsp.recorder.open_store import open_store
from flux_lsp.recorder.sqlite_store import SQLiteStore
from flux_lsp.recorder.writer import health_path
from tests.cli.flux import flux as flux_command
from tests.harness import FluxApp
from tests.postgres import throwaway_cluster
from tests.recorders import ClusterControl, use_recorder

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


async def test_postgres_stopped_mid_traffic_drops_counted_and_recording_resumes(
    shop: Path,
) -> None:
    """A cluster of this test's own is stopped while requests flow, then started again."""
    with throwaway_cluster() as url:
        cluster = ClusterControl(url)
        use_recorder(shop, url)
        async with FluxApp(shop) as flux:
            assert await _send(flux, 3) == [201, 400] * 3
            flux.flush()
            assert (flux.writer.recorded, flux.writer.dropped) == (6, 0)
            cluster.stop()
            assert await _send(flux, 5) == [201, 400] * 5  # requests go on being served
            flux.flush()
            assert flux.writer.dropped == 10
            assert "recorder" in (flux.writer.last_problem or "")
            status = await asyncio.to_thread(flux_command, "status", "-p", str(shop))
            assert status.code == 1
            assert "cannot reach the recorder at" in status.out
            assert "  Dropped      10" in status.out
            cluster.start()
            for _ in range(100):  # the writer tries again by itself, once a second at most
                await _send(flux, 1)
                flux.flush()
                if flux.writer.recorded > 6:
                    break
                await asyncio.sleep(0.1)
            before = flux.writer.recorded
            assert before > 6
            assert await _send(flux, 2) == [201, 400] * 2
            flux.flush()
            assert flux.writer.recorded == before + 4
        store = await open_store(url)
        try:
            stats = await store.stats()
        finally:
            await store.close()
        assert stats.executions == flux.writer.recorded
