"""In a terminal, a window longer than the screen gets a progress bar; every line still prints."""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from tests.harness import FluxApp

pytestmark = pytest.mark.usefixtures("backend")  # on SQLite and PostgreSQL


async def test_long_window_in_a_terminal_shows_a_progress_bar(shop: Path) -> None:
    since = time.time()
    async with FluxApp(shop) as flux:
        for n in range(30):
            await flux.client.post("/create_user", json={"email": f"u{n}@x.com"})
        flux.flush()
    window = f"{dt.datetime.fromtimestamp(since).isoformat()}..now"

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 12, 120, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "flux_lsp", "incident", "replay", window, "-p", str(shop)],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env={**env, "TERM": "xterm-256color"},
        close_fds=True,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    assert proc.wait(timeout=60) == 0
    out = b"".join(chunks).decode(errors="replace")

    assert "replaying" in out and "/30" in out  # the bar: description and done/total
    assert out.count("POST /create_user  201") == 30
    assert "30 replayed · 30 passing · 0 still failing" in out
