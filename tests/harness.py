"""Test harness: a real Flux app over a copy of a project, and a real server on loopback.

`FluxApp` builds the runtime, the recorder writer and the gateway exactly as `flux dev` does,
and talks to it through httpx's ASGI transport (with the app's lifespan running, so the job
worker and other background tasks run too). `serve_on_loopback` runs the same app under
uvicorn on a free 127.0.0.1 port for tests that need real sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from flux_lsp.model import Execution
from flux_lsp.project import Project
from flux_lsp.recorder.open_store import open_store
from flux_lsp.recorder.store import Store
from flux_lsp.recorder.writer import open_writer
from flux_lsp.runtime.gateway import create_app
from flux_lsp.runtime.runtime import Runtime
from flux_lsp.runtime.worker import Worker

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_SHOP = REPO / "examples" / "shop"


def copy_shop(dest: Path) -> Path:
    """A fresh copy of the example shop (without any .flux state) under `dest`."""
    target = dest / "shop"
    shutil.copytree(EXAMPLE_SHOP, target, ignore=shutil.ignore_patterns(".flux", "__pycache__"))
    return target


def write_function(project: Path, name: str, source: str) -> Path:
    path = project / "functions" / f"{name}.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source)
    return path


class FluxApp:
    """A running Flux app for one project folder, driven in-process."""

    def __init__(self, root: Path, **runtime_options: Any) -> None:
        self.root = root
        self.project = Project.load(root)
        self.writer = open_writer(self.project, export=True)
        self.runtime = Runtime(self.project, self.writer, **runtime_options)
        self.app = create_app(self.runtime, background=self.background())
        self.client: httpx.AsyncClient
        self._lifespan: contextlib.AbstractAsyncContextManager[Any] | None = None

    def background(self) -> list[Any]:
        """The background tasks `flux dev` runs (extended as the runtime grows)."""
        return [Worker(self.runtime, poll_seconds=0.05)]

    async def __aenter__(self) -> FluxApp:
        self._lifespan = self.app.router.lifespan_context(self.app)
        await self._lifespan.__aenter__()
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://flux.test"
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.aclose()
        if self._lifespan is not None:
            await self._lifespan.__aexit__(None, None, None)

    def flush(self) -> None:
        assert self.writer.flush(), "recorder did not drain"

    async def store(self) -> Store:
        self.flush()
        return await open_store(
            self.project.recorder_location, health=self.project.recorder_health_path
        )

    async def recorded(self, *ids: str) -> list[Execution]:
        """The recorded executions with these ids, in order (after a flush)."""
        store = await self.store()
        try:
            return [await store.get(i) for i in ids]
        finally:
            await store.close()


class NoWorker(FluxApp):
    """A FluxApp without background tasks: tests run queued jobs themselves."""

    def background(self) -> list[Any]:
        return []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def terminal_signals() -> None:
    """`preexec_fn` for a child a test stops with Ctrl-C (SIGINT): it takes it as in a terminal,
    even when the tests run where SIGINT is ignored (a background job without job control),
    which the child would otherwise inherit and so never stop."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@contextlib.asynccontextmanager
async def serve_on_loopback(app: Any) -> AsyncIterator[str]:
    """Serve `app` with uvicorn on 127.0.0.1; yields the base URL.

    Idle keep-alive connections are kept for a minute: the client shares the server's event
    loop, and on a loaded machine a pooled connection can sit idle past uvicorn's 5 s default
    and be closed just as the client reuses it (a `ReadError` that is the test's, not Flux's).
    """
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", timeout_keep_alive=60
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
