"""Retention on every backend: thirty days of records pruned to exactly what the policy keeps,
by `flux prune` and by the writer process, mutations with their executions, a file that
shrinks, and the one line that says a history reaches before what is kept."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from flux_lsp.model import Execution, Span
from flux_lsp.project import is_database_url
from flux_lsp.recorder.open_store import open_store
from flux_lsp.recorder.query import ExecutionQuery, MutationQuery
from flux_lsp.recorder.retention import DAY, RetentionPolicy
from flux_lsp.recorder.writer import RecorderWriter
from tests.cli.flux import flux
from tests.recorder.test_store import make
from tests.recorders import recorder_database, write_executions

HALF_HOUR = 1800.0


@pytest.fixture
def location(tmp_path: Path, backend_server: str | None) -> Iterator[str]:
    with recorder_database(backend_server) as url:
        yield url or str(tmp_path / "recorder.db")


def thirty_days(now: float) -> list[Execution]:
    """One execution every half hour for 30 days; every fourth a 500, every tenth a 404."""
    out = []
    for i in range(30 * 48):
        status = "500" if i % 4 == 0 else "404" if i % 10 == 0 else "200"
        e = make(f"{i + 1:016x}", status, now - 900 - i * HALF_HOUR)
        e.spans = [Span(id=1, name="db.insert", file="functions/create_user.py", line=5)]
        out.append(e)
    return out


def kept(executions: list[Execution], now: float, keep: float, failures: float) -> set[str]:
    return {
        e.id
        for e in executions
        if e.started_at >= now - (failures if e.status in ("500", "404") else keep)
    }


def project_with(tmp_path: Path, location: str, keep: str, keep_failures: str) -> Path:
    project = tmp_path / "project"
    (project / "functions").mkdir(parents=True)
    setting = f'url = "{location}"' if is_database_url(location) else f'path = "{location}"'
    (project / "flux.toml").write_text(
        f'[recorder]\n{setting}\nkeep = "{keep}"\nkeep_failures = "{keep_failures}"\n'
    )
    return project


def on_disk(location: str) -> int:
    return sum(os.path.getsize(p) for p in (location, location + "-wal") if os.path.exists(p))


async def remaining(location: str) -> tuple[set[str], int, int]:
    async with await open_store(location) as store:
        ids = {e.id for e in await store.executions(ExecutionQuery(limit=None))}
        mutations = len(await store.mutations(MutationQuery(limit=100_000)))
        sites = len(await store.call_sites("functions/create_user.py", 5, limit=100_000))
    return ids, mutations, sites


def test_flux_prune_keeps_exactly_what_the_policy_says(location: str, tmp_path: Path) -> None:
    now = time.time()
    executions = thirty_days(now)
    write_executions(location, executions)
    expected = kept(executions, now, 7 * DAY, 20 * DAY)
    project = project_with(tmp_path, location, "7d", "20d")
    size_before = on_disk(location)

    dry = flux("prune", "--dry-run", "-p", str(project), "--json")
    assert dry.code == 0, dry.err
    assert dry.json()["executions"] == len(executions) - len(expected)
    assert (asyncio.run(remaining(location)))[0] == {e.id for e in executions}  # nothing removed

    r = flux("prune", "-p", str(project))
    assert r.code == 0, r.err
    assert f"removed {len(executions) - len(expected):,} executions" in r.out
    ids, mutations, sites = asyncio.run(remaining(location))
    assert ids == expected
    assert mutations == sites == len(expected)  # their mutations and call sites went with them
    if not is_database_url(location):
        assert on_disk(location) < size_before * 0.8  # the file gave its pages back

    history = flux("state", "history", "users", "--id", "u_1", "-p", str(project))
    assert history.code == 0, history.err
    assert "recordings before " in history.out and " were pruned" in history.out
    status = flux("status", "-p", str(project))
    assert "keep 7d · failures 20d · max 5GB" in status.out and "Pruned" in status.out

    again = flux("prune", "-p", str(project), "--json")
    assert again.json()["executions"] == 0


async def test_the_writer_prunes_by_itself(location: str, tmp_path: Path) -> None:
    now = time.time()
    executions = thirty_days(now)
    write_executions(location, executions)
    expected = kept(executions, now, 7 * DAY, 30 * DAY)
    policy = RetentionPolicy(keep=7 * DAY, keep_failures=30 * DAY, text="keep 7d")
    writer = RecorderWriter(
        location, health=tmp_path / "health.json", policy=policy, prune_seconds=0.2
    )
    try:
        for _ in range(200):
            if (await remaining(location))[0] == expected:
                break
            await asyncio.sleep(0.1)
        assert (await remaining(location))[0] == expected
    finally:
        writer.close()
    async with await open_store(location) as store:
        stats = await store.stats()
    assert stats.retention == "keep 7d" and stats.pruned_before is not None


def test_a_bad_policy_is_one_line(tmp_path: Path) -> None:
    project = project_with(tmp_path, str(tmp_path / "r.db"), "a fortnight", "90d")
    r = flux("prune", "-p", str(project))
    assert r.code == 1
    assert "recorder.keep must be a duration like 14d" in r.err and "Traceback" not in r.err
