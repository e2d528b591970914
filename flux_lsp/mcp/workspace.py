"""What the agent tools work on: a project folder and the recorder it reads, opened once.

The recorder is the project's own file, another `--recorder` file, or a `flux serve` server's
(`--server` with `--token`), opened through `recorder.open.open_project_store` exactly as the
CLI opens it. It is opened at the first tool call, so `flux mcp` starts (and lists its tools)
before anything is recorded, and a recorder that cannot be read is a tool error, not a crash.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from flux_lsp.project import ConfigError, Project
from flux_lsp.recorder.open_store import open_project_store
from flux_lsp.recorder.store import Store


@dataclass(slots=True)
class Workspace:
    project_dir: Path = Path(".")
    recorder: str | None = None
    """A recorder file or PostgreSQL URL instead of the project's."""
    server: str | None = None
    token: str | None = None
    _store: Store | None = field(default=None, init=False)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False)

    def project(self) -> Project:
        """The project as flux.toml says now (read again for each replay)."""
        return Project.load(self.project_dir)

    def replay_project(self) -> Project:
        """The project to replay on: its working tree must have a functions folder."""
        project = self.project()
        if not project.functions_dir.is_dir():
            raise ConfigError(f"no functions folder at {project.functions_dir}")
        return project

    async def store(self) -> Store:
        async with self._lock:
            if self._store is None:
                self._store = await open_project_store(
                    self.project_dir, self.recorder, self.server, self.token
                )
            return self._store

    async def close(self) -> None:
        if self._store is not None:
            store, self._store = self._store, None
            await store.close()
