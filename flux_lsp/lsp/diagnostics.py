"""Recorded failures as diagnostics on the lines that raised them.

For an open file, the failures recorded in it over the window are fetched from the `Store`,
grouped by fingerprint (`analysis.fingerprint`), and each group becomes one diagnostic,
re-anchored in the text as it is now (`analysis.anchoring`). Edits only re-anchor the cached
groups; the recorder is asked again when it changes (see `live`) or the file is reopened.
"""

from __future__ import annotations

import datetime as _dt
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.uris import to_fs_path

from flux_lsp.analysis.anchoring import Anchor, anchor, enclosing_function_anchor
from flux_lsp.analysis.failures import failure_state, recorded_failures
from flux_lsp.analysis.fingerprint import FailureGroup
from flux_lsp.lsp.projects import FluxProject
from flux_lsp.model import Execution, Location, short_id
from flux_lsp.recorder.store import RecorderCorrupt, RecorderError

if TYPE_CHECKING:
    from flux_lsp.lsp.server import FluxLanguageServer

log = logging.getLogger("flux.lsp")

SOURCE = "flux"
DATA_IDS = 50


@dataclass(slots=True, frozen=True)
class HeldGroup:
    """What the editor keeps of a failure group while its file is open: the latest execution
    in full (its error, frames and id) and the rest as counts and ids, not every recorded
    execution with its spans (200 open files held ~0.45 MB each that way)."""

    fingerprint: str
    latest: Execution
    count: int
    ids: list[str]
    severity: str

    @classmethod
    def of(cls, group: FailureGroup) -> HeldGroup:
        return cls(
            group.fingerprint, group.latest, group.count, group.ids[:DATA_IDS], group.severity
        )

    @property
    def location(self) -> Location | None:
        error = self.latest.error
        return error.location if error else None


@dataclass(slots=True)
class FileFailures:
    """What the recorder said about one file at the last fetch."""

    project: FluxProject
    groups: list[HeldGroup]
    verdicts: dict[str, Execution]


@dataclass(slots=True)
class Placed:
    """A group as it was last published: its diagnostic and where it landed."""

    group: HeldGroup
    anchor: Anchor
    state: str
    """`open`, `fixed` or `changed`."""
    diagnostic: types.Diagnostic


@dataclass(slots=True)
class DiagnosticsState:
    failures: dict[str, FileFailures] = field(default_factory=dict)
    placed: dict[str, list[Placed]] = field(default_factory=dict)
    load: dict[str, list[types.Diagnostic]] = field(default_factory=dict)
    """Load problems of open function files (`load_errors`), published with the failures."""

    def forget(self, uri: str) -> None:
        self.failures.pop(uri, None)
        self.placed.pop(uri, None)
        self.load.pop(uri, None)

    def group_at(self, uri: str, line: int) -> Placed | None:
        """The placed failure whose range covers `line` (0-based), open ones first."""
        hits = [
            p
            for p in self.placed.get(uri, [])
            if p.anchor.found and p.anchor.start_line <= line <= p.anchor.end_line
        ]
        hits.sort(key=lambda p: p.state != "open")
        return hits[0] if hits else None


def _clock(timestamp: float) -> str:
    return _dt.datetime.fromtimestamp(timestamp).strftime("%H:%M")


def describe(group: HeldGroup, window: str) -> str:
    """`<message> — 3× in 24h, latest req:7c8d9e0f 09:14`."""
    latest = group.latest
    message = latest.error.message if latest.error else latest.status
    return (
        f"{message} — {group.count}× in {window}, "
        f"latest {short_id(latest.id)} {_clock(latest.started_at)}"
    )


def _range(a: Anchor) -> types.Range:
    return types.Range(
        start=types.Position(line=a.start_line, character=a.start_col),
        end=types.Position(line=a.end_line, character=a.end_col),
    )


def _related(project: FluxProject, group: HeldGroup) -> list[types.DiagnosticRelatedInformation]:
    error = group.latest.error
    if error is None:
        return []
    out: list[types.DiagnosticRelatedInformation] = []
    for frame in error.frames[:-1]:
        line = max(0, frame.line - 1)
        col = frame.col or 0
        end = frame.end_col if frame.end_col is not None and frame.end_line == frame.line else col
        out.append(
            types.DiagnosticRelatedInformation(
                location=types.Location(
                    uri=project.uri_for(frame.file),
                    range=types.Range(
                        start=types.Position(line=line, character=col),
                        end=types.Position(line=line, character=max(col, end)),
                    ),
                ),
                message=f"called from {frame.function or 'here'} ({frame.label})",
            )
        )
    return out


def place(failures: FileFailures, lines: list[str]) -> list[Placed]:
    """One diagnostic per failure group, anchored in the document's current `lines`."""
    placed: list[Placed] = []
    for group in failures.groups:
        location = group.location
        if location is None:
            continue
        found = anchor(location, lines)
        replay = failures.verdicts.get(group.fingerprint)
        state = failure_state(found, replay)
        text = describe(group, failures.project.settings.window)
        if state == "fixed" and replay is not None:
            severity = types.DiagnosticSeverity.Hint
            text = f"fixed in replay {short_id(replay.id)} — was: {text}"
        elif state == "changed":
            severity = types.DiagnosticSeverity.Information
            text = (
                f"The failing code changed since it was recorded; verify with a replay. "
                f"Recorded at line {location.line}: {text}"
            )
        else:
            severity = (
                types.DiagnosticSeverity.Error
                if group.severity == "error"
                else types.DiagnosticSeverity.Warning
            )
        if not found.found:
            found = enclosing_function_anchor(location.function, lines)
        data: dict[str, Any] = {
            "fingerprint": group.fingerprint,
            "ids": group.ids[:DATA_IDS],
            "latest": group.latest.id,
            "latest_at": group.latest.started_at,
            "count": group.count,
            "function": group.latest.function,
            "state": state,
            "replay": replay.id if replay is not None else None,
        }
        diagnostic = types.Diagnostic(
            range=_range(found),
            message=text,
            severity=severity,
            source=SOURCE,
            code=group.fingerprint,
            related_information=_related(failures.project, group) or None,
            data=data,
        )
        placed.append(Placed(group, found, state, diagnostic))
    return placed


def publish(ls: FluxLanguageServer, uri: str) -> None:
    """Re-anchor the cached failures of `uri` in its current text and publish them, with the
    file's load problem if it has one."""
    failures = ls.diagnostics.failures.get(uri)
    load = ls.diagnostics.load.get(uri)
    if (failures is None and load is None) or uri not in ls.open_uris:
        return
    document = ls.workspace.get_text_document(uri)
    placed: list[Placed] = []
    if failures is not None and failures.groups:
        lines = document.source.splitlines()  # as pygls splits them, in one pass
        placed = place(failures, lines)
    ls.diagnostics.placed[uri] = placed
    ls.text_document_publish_diagnostics(
        types.PublishDiagnosticsParams(
            uri=uri,
            version=document.version,
            diagnostics=[p.diagnostic for p in placed] + list(load or []),
        )
    )


async def refresh(ls: FluxLanguageServer, uri: str) -> None:
    """Ask the recorder again about `uri`, then publish. Never raises."""
    try:
        await _refresh(ls, uri)
    except Exception:
        log.exception("refreshing diagnostics for %s failed", uri)


async def _refresh(ls: FluxLanguageServer, uri: str) -> None:
    project = await ls.projects.project_for(uri)
    if project is None:
        return
    project.open_uris.add(uri)
    ls.live.watch(project)
    store = await ls.projects.store_for(project)
    if store is None:
        return
    fs = to_fs_path(uri)
    if not fs:
        return
    relative = project.relative(Path(fs))
    since = time.time() - project.settings.window_seconds
    try:
        if project.token is None:
            project.token = await store.change_token()
        if project.scanned_at is None:
            project.scanned_at = time.time()
        groups, verdicts = await recorded_failures(store, since, relative)
    except RecorderCorrupt as exc:
        await project.drop_store(str(exc))
        ls.projects.report(f"Flux: {exc}")
        return
    except RecorderError as exc:
        ls.projects.report(f"Flux: {exc}")
        return
    if uri not in ls.open_uris:
        return
    held = [HeldGroup.of(group) for group in groups]
    ls.diagnostics.failures[uri] = FileFailures(project, held, verdicts)
    publish(ls, uri)
    ls.prepare_hovers(uri)


def clear(ls: FluxLanguageServer, uri: str) -> None:
    ls.diagnostics.forget(uri)
    ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))


def register(ls: FluxLanguageServer) -> None:
    @ls.feature(types.TEXT_DOCUMENT_DID_OPEN)
    async def did_open(ls: FluxLanguageServer, params: types.DidOpenTextDocumentParams) -> None:
        from flux_lsp.lsp.load_errors import check

        uri = params.text_document.uri
        ls.open_uris.add(uri)
        with ls.background.busy():
            await refresh(ls, uri)
            await check(ls, uri)

    @ls.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: FluxLanguageServer, params: types.DidChangeTextDocumentParams) -> None:
        publish(ls, params.text_document.uri)

    @ls.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: FluxLanguageServer, params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        ls.open_uris.discard(uri)
        for project in ls.projects.all():
            project.open_uris.discard(uri)
        clear(ls, uri)
