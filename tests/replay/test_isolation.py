"""A replay touches nothing outside its sandbox: no socket, no email, no byte of the live data."""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from flux_lsp.encode import to_json
from flux_lsp.project import Project
from flux_lsp.recorder.sqlite_store import SQLiteStore
from flux_lsp.recorder.writer import RecorderWriter
from flux_lsp.replay.engine import replay_window
from flux_lsp.runtime.database import open_database
from tests.harness import free_port
from tests.replay.helpers import NetworkUsed, fixed_signup, no_network, record_incident

pytestmark = pytest.mark.usefixtures("backend")  # on SQLite and PostgreSQL


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope)
        return "250 OK"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def checksums(project: Project) -> dict[str, str]:
    """A checksum of every live table's rows (on either backend)."""
    database = open_database(project)
    try:
        sums = {}
        for table in await database.tables():
            rows = sorted(repr(sorted(row.items())) for row in await database.dump_table(table))
            sums[table] = hashlib.sha256("\n".join(rows).encode()).hexdigest()
        return sums
    finally:
        await database.close()


async def test_replay_sends_nothing_connects_nowhere_and_leaves_live_data_alone(
    shop: Path,
) -> None:

    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    try:
        config = shop / "flux.toml"
        config.write_text(
            config.read_text().replace(
                'provider = "console"',
                f'provider = "smtp"\n[email.smtp]\nhost = "127.0.0.1"\nport = {smtp.port}',
            )
        )
        incident = await record_incident(shop)
        # Recording sent real mail: both welcome emails and cus_1's payment receipt.
        assert len(inbox.messages) == 3
        project = Project.load(shop)
        live = sorted(p for p in project.state_dir.iterdir() if p.name.startswith("app.db"))
        before = {p.name: digest(p) for p in live}
        tables_before = await checksums(project)
        store = await SQLiteStore.open(project.recorder_path)
        recorder = RecorderWriter(project.recorder_path)
        try:
            with no_network() as attempts:
                report = await replay_window(
                    project,
                    store,
                    incident.since,
                    incident.until,
                    overlay={"functions/signup.py": fixed_signup()},
                    with_jobs=True,
                    recorder=recorder,
                )
        finally:
            recorder.close()
            await store.close()
        # The guard is real: the same SMTP server is unreachable under it.
        with no_network() as probe, pytest.raises(NetworkUsed), socket.socket() as sock:
            sock.connect(("127.0.0.1", smtp.port))
        assert probe == [f"connect {('127.0.0.1', smtp.port)!r}"]
    finally:
        smtp.stop()

    assert attempts == []
    assert inbox.messages[3:] == []
    assert {p.name: digest(p) for p in live} == before  # SQLite: not a byte of the file
    assert await checksums(project) == tables_before  # and every table, on both backends
    assert {"users", "subscriptions", "_flux_jobs"} <= set(tables_before)
    assert report.resolved, to_json(report)
    assert report.overlay == ["functions/signup.py"]
    # Jobs were re-run (their welcome emails suppressed), webhook receipts suppressed too.
    kinds = [o.kind for o in report.outcomes]
    assert kinds.count("job") == 2 and kinds.count("http") == 6
    assert all(o.passed for o in report.outcomes)
    assert "jobs replayed" in report.side_effects
    # The fixed signup on disk was never written: the overlay only lived in the replay.
    assert "subscriptions" not in (shop / "functions" / "signup.py").read_text()
