"""Showing a command's report to an editor that does not render Flux's reports itself.

The VS Code extension declares `{"rendersReports": true}` in its `initializationOptions` and
draws the report a command returns. Any other client (Neovim, Emacs, Helix, Zed, …) would
drop that result, so for them the report's Markdown is written under the project's
`.flux/reports/` and opened with `window/showDocument`; when the client cannot show documents
(or refuses), `window/showMessage` carries the report's one-line verdict and the file's path.
The command's result names the file as `document` either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING

from lsprotocol import types
from pygls.uris import from_fs_path

from flux_lsp.project import Project

if TYPE_CHECKING:
    from flux_lsp.lsp.answer import CommandAnswer
    from flux_lsp.lsp.server import FluxLanguageServer

log = logging.getLogger("flux.lsp")

RENDERS_REPORTS = "rendersReports"
"""The `initializationOptions` key a client sets when it renders Flux's reports itself."""
REPORTS_FOLDER = "reports"
SHOW_TIMEOUT = 5.0
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def renders_reports(options: object) -> bool:
    """Whether the client's initialization options say it renders Flux's reports."""
    return isinstance(options, dict) and options.get(RENDERS_REPORTS) is True


def report_file(project_root: Path, kind: str, execution_id: str | None) -> Path:
    """`.flux/reports/why-7c8d9e0f.md`: one file per command and execution, rewritten each time."""
    suffix = f"-{execution_id[:8]}" if execution_id else ""
    name = _UNSAFE.sub("_", f"{kind}{suffix}")
    return Project.load(project_root).state_dir / REPORTS_FOLDER / f"{name}.md"


def _shows_documents(ls: FluxLanguageServer) -> bool:
    window = ls.client_capabilities.window
    return bool(window and window.show_document and window.show_document.support)


async def present(
    ls: FluxLanguageServer, project_root: Path, result: CommandAnswer, verdict: str
) -> None:
    """Show `result` (a command's answer) to a client that does not render it. Never raises."""
    if ls.renders_reports:
        return
    try:
        path = report_file(project_root, result.kind, result.execution_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(result.markdown + "\n", encoding="utf-8")
    except (OSError, ValueError) as exc:
        ls.window_show_message(
            types.ShowMessageParams(type=types.MessageType.Info, message=verdict)
        )
        log.warning("could not write the report: %s", exc)
        return
    uri = from_fs_path(str(path)) or str(path)
    result.document = uri
    if _shows_documents(ls):
        with contextlib.suppress(Exception):
            shown = await asyncio.wait_for(
                ls.window_show_document_async(types.ShowDocumentParams(uri=uri, take_focus=True)),
                SHOW_TIMEOUT,
            )
            if shown.success:
                return
    ls.window_show_message(
        types.ShowMessageParams(
            type=types.MessageType.Info, message=f"{verdict} (full report: {path})"
        )
    )
