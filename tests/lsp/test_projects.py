"""A project's recorder is opened once and closed once: one being opened when the server shuts
down is closed with the rest, and none is opened after."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from flux_lsp.lsp import projects
from flux_lsp.lsp.config import FolderSettings
from flux_lsp.lsp.projects import FluxProject
from flux_lsp.recorder.open_store import open_store
from flux_lsp.recorder.store import Store
from tests.recorder.test_store import make
from tests.recorders import write_executions


def connection_threads() -> int:
    """Running recorder-file connection threads (each would keep the process alive)."""
    return sum("_connection_worker_thread" in t.name for t in threading.enumerate())


async def test_a_recorder_being_opened_at_shutdown_is_closed_and_none_is_opened_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "recorder.db"
    write_executions(path, [make("a1", started=1.0)])
    opened: list[Store] = []

    async def slow_open(location: str) -> Store:
        await asyncio.sleep(0.05)  # shutdown arrives while this open is under way
        store = await open_store(location)
        opened.append(store)
        return store

    monkeypatch.setattr(projects, "open_store", slow_open)
    project = FluxProject(tmp_path, tmp_path / "functions", str(path), FolderSettings())
    before = connection_threads()
    opening = asyncio.create_task(project.open())
    await asyncio.sleep(0)  # the open holds the project's lock now
    await project.close()
    await opening
    assert len(opened) == 1 and project.store is None
    await asyncio.sleep(0.05)  # the closed connection's thread ends
    assert connection_threads() == before
    assert await project.open() is None  # not opened again
    assert len(opened) == 1
