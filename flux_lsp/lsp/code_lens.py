"""Code lens on each handler: `12 runs · 2 failed · p95 48 ms` over the window, and
`Debug this request (req:…)` on each failing line.

The handler lens's command (`flux.tail` for that function) opens the recent executions; a
failing line's lens (`flux.debug` with the failure's latest id) starts a debug session. The
failing lines are the open Flux diagnostics as last published.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lsprotocol import types

from flux_lsp.analysis.stats import RunStats
from flux_lsp.lsp.code_actions import debug_title
from flux_lsp.lsp.resolve import definition_line
from flux_lsp.model import short_id
from flux_lsp.recorder.store import RecorderError

if TYPE_CHECKING:
    from flux_lsp.lsp.server import FluxLanguageServer


def lens_title(stats: RunStats) -> str:
    """`12 runs · 2 failed · p95 48 ms`."""
    runs = f"{stats.runs} run" + ("" if stats.runs == 1 else "s")
    parts = [runs, f"{stats.failed} failed"]
    if stats.client_errors:
        parts.append(f"{stats.client_errors} 4xx")
    if stats.p95_ms is not None:
        parts.append(f"p95 {stats.p95_ms:.0f} ms")
    return " · ".join(parts)


def debug_lenses(ls: FluxLanguageServer, uri: str) -> list[types.CodeLens]:
    """`Debug this request (req:…)` above each open failure of `uri`."""
    lenses = []
    for placed in ls.diagnostics.placed.get(uri, []):
        if placed.state != "open" or not placed.anchor.found:
            continue
        latest = placed.group.latest.id
        start = placed.diagnostic.range.start
        lenses.append(
            types.CodeLens(
                range=types.Range(start=start, end=start),
                command=types.Command(
                    title=debug_title(short_id(latest)),
                    command="flux.debug",
                    arguments=[{"id": latest, "uri": uri}],
                ),
            )
        )
    return lenses


async def code_lens(
    ls: FluxLanguageServer, params: types.CodeLensParams
) -> list[types.CodeLens] | None:
    uri = params.text_document.uri
    lenses = debug_lenses(ls, uri)
    with ls.background.busy():
        handler = await _handler_lens(ls, uri)
    if handler is not None:
        lenses.insert(0, handler)
    return lenses or None


async def _handler_lens(ls: FluxLanguageServer, uri: str) -> types.CodeLens | None:
    found = await ls.project_document(uri)
    if found is None:
        return None
    project, fs, source = found
    function = project.function_name(fs)
    if function is None:
        return None
    line = await definition_line(source, fs)
    if line is None:
        return None
    store = await ls.projects.store_for(project)
    if store is None:
        return None
    try:
        stats = (await ls.run_summaries.get(project, store, function)).stats
    except RecorderError as exc:
        ls.projects.report(f"Flux: {exc}")
        return None
    text = source.splitlines()[line - 1]
    col = max(0, text.find("handler"))
    return types.CodeLens(
        range=types.Range(
            start=types.Position(line=line - 1, character=col),
            end=types.Position(line=line - 1, character=col + len("handler")),
        ),
        command=types.Command(
            title=lens_title(stats),
            command="flux.tail",
            arguments=[{"function": function, "uri": uri}],
        ),
    )


def register(ls: FluxLanguageServer) -> None:
    ls.feature(types.TEXT_DOCUMENT_CODE_LENS)(code_lens)
