"""Hover: what production did on this line.

- On a line a flux diagnostic covers: the why report of its latest failure.
- On a `ctx.<service>.<method>(...)` call: the recent results recorded at that call site.
- On a function's `def` line in the functions folder: its recent executions with p50/p95.

Each answer carries the range it describes (the diagnostic's, the whole call's, the function's
name), so the editor highlights what the hover is about.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from lsprotocol import types

from flux_lsp.analysis.call_site_summary import summarize_call_site
from flux_lsp.analysis.why import explain
from flux_lsp.lsp import markdown
from flux_lsp.lsp.resolve import CtxCall, FunctionDef, Span, resolve
from flux_lsp.recorder.store import RecorderError

if TYPE_CHECKING:
    from flux_lsp.lsp.server import FluxLanguageServer

RECENT_ROWS = 8


def _markup(text: str, where: types.Range | Span | None) -> types.Hover:
    if isinstance(where, Span):
        where = types.Range(
            start=types.Position(line=where.line, character=where.col),
            end=types.Position(line=where.end_line, character=where.end_col),
        )
    return types.Hover(
        contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=text), range=where
    )


async def hover(ls: FluxLanguageServer, params: types.HoverParams) -> types.Hover | None:
    uri = params.text_document.uri
    line = params.position.line
    found = await ls.projects.file_for(uri)
    if found is None:
        return None
    project, fs = found
    store = await ls.projects.store_for(project)
    if store is None:
        return None
    since = time.time() - project.settings.window_seconds
    try:
        placed = ls.diagnostics.group_at(uri, line)
        if placed is not None:
            key = (placed.group.latest.id, project.token)
            text = ls.why_cache.get(key)
            if text is None:
                execution = await store.get(placed.group.latest.id)
                text = markdown.why(await explain(store, execution))
                ls.why_cache.put(key, text)
            if placed.group.count > 1:
                text += f"\n\n*{placed.group.count} failures like this in the last "
                text += f"{project.settings.window}*"
            return _markup(text, placed.diagnostic.range)
        source = ls.document_source(uri)
        if source is None:
            return None
        target = await resolve(source, fs, line, params.position.character)
        if isinstance(target, CtxCall):
            relative = project.relative(Path(fs))
            results = await store.call_sites(relative, target.line, since=since, limit=RECENT_ROWS)
            summary = summarize_call_site(relative, target.line, results)
            return _markup(markdown.call_site(summary, target.label), target.span)
        if isinstance(target, FunctionDef):
            function = project.function_name(fs)
            if function is None or target.name != "handler":
                return None
            runs = await ls.run_summaries.get(project, store, function)
            text = markdown.run_stats(function, runs.stats, runs.recent, project.settings.window)
            return _markup(text, target.span)
    except RecorderError as exc:
        ls.projects.report(f"Flux: {exc}")
    return None


def register(ls: FluxLanguageServer) -> None:
    ls.feature(types.TEXT_DOCUMENT_HOVER)(hover)
