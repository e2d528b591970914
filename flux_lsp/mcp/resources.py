"""The agent resources: recorded failures per source location, with the code around them.

One resource per failure group of the window (`flux://failures/<fingerprint>`, the same
fingerprint as the editor's diagnostics), and one per source file
(`flux://files/functions/stripe_webhook.py`), so an agent can go from a file it is editing to
what failed in it. Each reads as the JSON of `analysis.failures.FailureReport`: the error, how
often, the latest ids, where the failing line is in the working tree now and the lines around
it. The grouping and the anchoring are `analysis/`'s; this module lists, reads files and
serializes.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from mcp.server.mcpserver.exceptions import ResourceError
from mcp_types import Resource

from flux_lsp.analysis.failures import FailureReport, failure_report, recorded_failures
from flux_lsp.analysis.fingerprint import FailureGroup
from flux_lsp.encode import to_json
from flux_lsp.mcp.tools import USER_ERRORS
from flux_lsp.mcp.workspace import Workspace
from flux_lsp.model import Execution

FAILURE_URI = "flux://failures/{fingerprint}"
FILE_URI = "flux://files/{+path}"
MIME = "application/json"
WINDOW_SECONDS = 24 * 3600.0
"""How far back the failure resources look."""


class FailureResources:
    """Lists and reads the failure resources of one workspace."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace

    async def _groups(self, file: str | None = None) -> list[FailureReport]:
        try:
            store = await self.workspace.store()
            groups, verdicts = await recorded_failures(store, time.time() - WINDOW_SECONDS, file)
            root = self.workspace.project().root
        except USER_ERRORS as exc:
            raise ResourceError(str(exc)) from None
        return [_report(root, g, verdicts.get(g.fingerprint)) for g in groups]

    async def list(self) -> list[Resource]:
        """One resource per failure group, then one per file that has failures."""
        reports = await self._groups()
        out = [
            Resource(
                uri=FAILURE_URI.format(fingerprint=r.fingerprint),
                name=r.title,
                description=f"{r.function}: {r.message}",
                mime_type=MIME,
            )
            for r in reports
        ]
        files = sorted({r.file for r in reports if r.file})
        out.extend(
            Resource(
                uri=f"flux://files/{file}",
                name=file,
                description=f"The failures recorded in {file}",
                mime_type=MIME,
            )
            for file in files
        )
        return out

    async def failure(self, fingerprint: str) -> str:
        """`flux://failures/<fingerprint>`: one failure group."""
        for report in await self._groups():
            if report.fingerprint == fingerprint:
                return _json(report)
        raise ResourceError(f"no failure {fingerprint!r} recorded in the last 24 hours")

    async def file(self, path: str) -> str:
        """`flux://files/<path>`: every failure group recorded in one file (may be none)."""
        reports = await self._groups(path)
        return _json({"file": path, "failures": reports})


def _json(document: object) -> str:
    return json.dumps(to_json(document), ensure_ascii=False, indent=2)


def _report(root: Path, group: FailureGroup, replay: Execution | None) -> FailureReport:
    """The group's report, anchored in its file as the working tree has it now."""
    location = group.location
    lines: list[str] | None = None
    if location is not None:
        path = (root / location.file).resolve()
        if path.is_relative_to(root) and path.is_file():
            try:
                lines = path.read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError):
                lines = None
    return failure_report(group, lines, replay)
