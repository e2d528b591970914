"""The writer's commit signal: readers of a recorder file hear at once that records landed.

After every committed batch the writer process writes a small file beside the recorder file
(`recorder-changed`, `signal_path`); readers (the language server's live diagnostics,
`flux tail --follow`) watch that file with watchfiles (inotify, FSEvents, ...) and look at the
store's change token as soon as it is written, instead of on a poll tick. `changes()` still
wakes every `fallback` seconds when nothing was heard, so a reader that cannot watch (no
signal file yet, a recorder on PostgreSQL or behind `flux serve`, a file system without
notifications) keeps polling. `recorder_changes` picks the signal of any recorder location:
this file's for a recorder file, `postgres_signal`'s LISTEN for a PostgreSQL recorder, polling
for a `flux serve` URL. May import the standard library, watchfiles, the `project` module's
location helpers and `postgres_signal`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

from flux_lsp.project import is_database_url, is_remote

STEP_MS = 5
"""How long the watch waits for quiet after a change before it reports it."""
DEBOUNCE_MS = 30
"""The longest the watch gathers changes before it reports them."""
RETRY_SECONDS = 1.0
"""How often a missing signal file is looked for."""


def signal_path(recorder_path: Path) -> Path:
    """The file the writer writes after each commit to `recorder_path`."""
    return recorder_path.with_name(recorder_path.stem + "-changed")


def signal_commit(path: Path, count: int) -> None:
    """Tell readers that a batch was committed: write the running count into the signal file,
    in place (a watch on the file survives). Never raises: a reader that cannot hear it polls."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            os.pwrite(fd, f"{count:020d}\n".encode(), 0)
        finally:
            os.close(fd)


async def changes(path: Path | None, fallback: float) -> AsyncIterator[bool]:
    """Yield True when the writer signalled a commit to `path`, False after `fallback`
    seconds of silence (the polling fallback; every `fallback` seconds when there is no
    signal file to watch, which is looked for again every `RETRY_SECONDS`). Runs until the
    caller stops iterating."""
    loop = asyncio.get_running_loop()
    last = loop.time()
    while True:
        if path is None or not path.exists():
            wait = fallback if path is None else min(fallback, RETRY_SECONDS)
            await asyncio.sleep(max(0.0, min(wait, last + fallback - loop.time())))
            if loop.time() - last >= fallback:
                last = loop.time()
                yield False
            continue
        try:
            from watchfiles import awatch

            async for batch in awatch(
                path,
                step=STEP_MS,
                debounce=DEBOUNCE_MS,
                rust_timeout=max(1, int(fallback * 1000)),
                yield_on_timeout=True,
                recursive=False,
                ignore_permission_denied=True,
            ):
                last = loop.time()
                yield bool(batch)
                if not path.exists():  # the file was removed: watch it again once it is back
                    break
        except (OSError, RuntimeError):  # no watch possible here: poll
            await asyncio.sleep(fallback)
            last = loop.time()
            yield False


def recorder_changes(location: str | Path, fallback: float) -> AsyncIterator[bool]:
    """Yield True when the recorder at `location` committed records, False after `fallback`
    seconds without a signal: the writer's signal file for a recorder file, `LISTEN` for a
    PostgreSQL recorder, and polling alone (every `fallback` seconds) for a `flux serve` URL."""
    text = str(location)
    if is_database_url(text):
        from flux_lsp.recorder.postgres_signal import changes as database_changes

        return database_changes(text, fallback)
    if is_remote(text):
        return changes(None, fallback)
    return changes(signal_path(Path(text)), fallback)
