"""Reading never writes: `flux status` leaves a 0-byte file at 0 bytes, and a recorder on a
read-only mount is read by `tail`, `why` and the language server as usual."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from lsprotocol import types

from tests.cli.flux import flux
from tests.cli.test_errors import one_line_error
from tests.lsp.recording import (
    WEBHOOK,
    Recording,
    open_document,
    record_shop,
    start_client,
    stop_client,
    wait_for_diagnostics,
)


def test_status_on_an_empty_file_leaves_it_empty(tmp_path: Path) -> None:
    recorder = tmp_path / "recorder.db"
    recorder.write_bytes(b"")
    line = one_line_error(flux("status", "--recorder", str(recorder)))
    assert line == f"flux: {recorder} is empty: nothing was recorded in it yet"
    assert recorder.stat().st_size == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["recorder.db"]


@contextlib.contextmanager
def read_only_copy(source: Path, mount: Path) -> Iterator[Path]:
    """`source`'s folder bind-mounted read-only at `mount` (the tests run as root)."""
    mount.mkdir()
    subprocess.run(["mount", "--bind", str(source), str(mount)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(mount)], check=True)
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_a_recorder_on_a_read_only_mount_is_readable(tmp_path: Path) -> None:
    recording = asyncio.run(record_shop(tmp_path / "recorded"))
    project = recording.project
    state = tmp_path / "state"
    state.mkdir()
    for file in (project / ".flux").glob("recorder.db*"):
        shutil.copy(file, state / file.name)
    shutil.rmtree(project / ".flux")
    failed = recording.failed_webhooks[0]
    with read_only_copy(state, tmp_path / "ro") as ro:
        with pytest.raises(OSError):
            (ro / "probe").write_text("x")
        recorder = str(ro / "recorder.db")
        tail = flux("tail", "--recorder", recorder, "-p", str(project), "--json")
        assert tail.code == 0, tail.err
        assert any(row["id"] == failed for row in tail.json()["executions"])
        why = flux("why", failed, "--recorder", recorder, "-p", str(project))
        assert why.code == 0, why.err
        assert "Row not found" in why.out

        found = asyncio.run(editor_diagnostics(recording, recorder))
        assert any(d.severity == types.DiagnosticSeverity.Error for d in found)


async def editor_diagnostics(recording: Recording, recorder: str) -> list[types.Diagnostic]:
    client = await start_client(recording.project, configuration={"recorder": recorder})
    try:
        uri = recording.uri(WEBHOOK)
        open_document(client, uri, recording.text(WEBHOOK))
        return await wait_for_diagnostics(client, uri)
    finally:
        await stop_client(client)
