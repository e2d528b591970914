"""The Flux language server: state shared by the features, and `create_server()`.

The features live one per module (`diagnostics`, `hover`, `code_lens`, `code_actions`,
`commands`, `navigation`, `live`); each registers its handlers here. The server owns the
projects (and their recorder stores), the cached diagnostics and the live watcher.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from flux_lsp import __version__
from flux_lsp.lsp.diagnostics import DiagnosticsState
from flux_lsp.lsp.projects import FluxProject, Projects
from flux_lsp.lsp.protocol import FluxProtocol
from flux_lsp.lsp.report_documents import renders_reports
from flux_lsp.recorder.follow import Follower

NAME = "flux"
VERSION = __version__

log = logging.getLogger("flux.lsp")
RELEASE_SECONDS = 10.0
"""How long closing may take once the client has gone away (debug sessions end in 5 s)."""


class FluxLanguageServer(LanguageServer):
    """A pygls server holding the projects, the published diagnostics and the watcher."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("protocol_cls", FluxProtocol)
        super().__init__(NAME, VERSION, *args, **kwargs)
        from flux_lsp.lsp.background import Background
        from flux_lsp.lsp.debug_sessions import DebugSessions
        from flux_lsp.lsp.hover import CallSiteText
        from flux_lsp.lsp.live import LiveWatcher
        from flux_lsp.lsp.lru import Lru
        from flux_lsp.lsp.run_summary import RunSummaries

        self.projects = Projects(self)
        self.diagnostics = DiagnosticsState()
        self.open_uris: set[str] = set()
        open_files = lambda: len(self.open_uris)  # noqa: E731
        self.why_cache: Lru[tuple[str, int | None], str] = Lru(open_files, per_file=4, least=256)
        """Why reports by (execution, change token): a few per open file, evicted one by one."""
        self.run_summaries = RunSummaries(open_files)
        self.call_site_cache: Lru[tuple[object, ...], CallSiteText] = Lru(
            open_files, per_file=8, least=256
        )
        """A call site's recent results as hover text, by (project, file, line, label)."""
        self.background = Background()
        """Work done while the editor waits for nothing (`hover.prepare`)."""
        self.followers: dict[str, list[Follower]] = {}
        """`flux.tail` follow cursors: what each client has been shown, per store."""
        self.live = LiveWatcher(self)
        self.renders_reports = False
        """The client said it renders Flux's reports itself (`initializationOptions`)."""
        self.debug_sessions = DebugSessions()
        self.warm_up: asyncio.Task[None] | None = None

    async def close(self) -> None:
        """Stop following the recorders and the background work, close every project's
        recorder, and end the debug sessions (on `shutdown`, and again once the connection
        has ended; each step is a no-op the second time). A step that fails is logged and the
        next still runs."""
        for step in (
            self.live.stop,
            self.background.stop,
            self.projects.close,
            self.debug_sessions.close,
        ):
            try:
                await step()
            except Exception as exc:
                log.warning("closing: %s failed: %s", step.__qualname__, exc)

    def release(self) -> None:
        """After the connection ended: close what is still open. A client that went away
        without `shutdown` (an editor that crashed, or quit without asking) left everything
        open, and a request in flight at `shutdown` may have opened a recorder after it. A
        recorder file's connection holds a thread that would keep the process alive, holding
        the file."""
        try:  # the old event loop is gone: close on a new one
            asyncio.run(asyncio.wait_for(self.close(), RELEASE_SECONDS))
        except Exception as exc:  # nobody is listening any more: say it on stderr, and exit
            log.warning("closing after the connection ended failed: %r", exc)

    def prepare_hovers(self, uri: str) -> None:
        """Work out what hovering `uri` shows (`hover.prepare`) while the editor waits for
        nothing."""
        from flux_lsp.lsp.hover import prepare

        self.background.schedule(f"hover {uri}", lambda: prepare(self, uri))

    def document_source(self, uri: str) -> str | None:
        """The text of `uri`: the editor's buffer when it is open, else the file on disk; None
        when there is neither (a hover on a file never opened and since deleted)."""
        try:
            return self.workspace.get_text_document(uri).source
        except (OSError, UnicodeDecodeError):
            return None

    async def project_document(self, uri: str) -> tuple[FluxProject, str, str] | None:
        """What a request on a document starts from: the project `uri` belongs to, its file
        path and its text; None outside any project, or when the text cannot be read."""
        found = await self.projects.file_for(uri)
        source = self.document_source(uri) if found is not None else None
        if found is None or source is None:
            return None
        return found[0], found[1], source


def create_server() -> FluxLanguageServer:
    """A server with every feature registered."""
    from flux_lsp.lsp import (
        code_actions,
        code_lens,
        commands,
        diagnostics,
        hover,
        load_errors,
        navigation,
        resolve,
    )

    ls = FluxLanguageServer()
    for module in (
        diagnostics,
        load_errors,
        hover,
        code_lens,
        code_actions,
        commands,
        navigation,
    ):
        module.register(ls)

    @ls.feature(types.INITIALIZE)
    def initialize(ls: FluxLanguageServer, params: types.InitializeParams) -> None:
        ls.renders_reports = renders_reports(params.initialization_options)

    @ls.feature(types.INITIALIZED)
    async def initialized(ls: FluxLanguageServer, params: types.InitializedParams) -> None:
        ls.live.start()
        ls.warm_up = asyncio.create_task(resolve.warm_up())
        await ls.projects.open_folders()

    @ls.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(
        ls: FluxLanguageServer, params: types.DidChangeConfigurationParams
    ) -> None:
        ls.projects.forget_settings()
        for uri in sorted(ls.open_uris):
            await diagnostics.refresh(ls, uri)

    @ls.feature(types.SHUTDOWN)
    async def shutdown(ls: FluxLanguageServer, params: None) -> None:
        await ls.close()

    return ls
