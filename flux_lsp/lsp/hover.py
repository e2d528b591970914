"""Hover: what production did on this line.

- On a line a flux diagnostic covers: the why report of its latest failure.
- On a `ctx.<service>.<method>(...)` call: the recent results recorded at that call site.
- On a function's `def` line in the functions folder: its recent executions with p50/p95.

Each answer carries the range it describes (the diagnostic's, the whole call's, the function's
name), so the editor highlights what the hover is about.

What a hover shows is worked out once and kept while the recorder does not change: when a
file's failures are published, `prepare` works out (in the background) the why text of each
of its failures, the recent results of each of its `ctx` calls and its handler's run summary,
so a hover is answered from what the server holds, and a hover that arrives while that work is
under way waits for it rather than repeating it (`Lru.get_or_compute`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lsprotocol import types

from flux_lsp.analysis.call_site_summary import summarize_call_site
from flux_lsp.analysis.why import explain
from flux_lsp.lsp import markdown
from flux_lsp.lsp.resolve import CtxCall, FunctionDef, Span, ctx_calls, definition_line, resolve
from flux_lsp.lsp.run_summary import held_fresh
from flux_lsp.recorder.store import RecorderError, Store

if TYPE_CHECKING:
    from flux_lsp.lsp.diagnostics import HeldGroup
    from flux_lsp.lsp.projects import FluxProject
    from flux_lsp.lsp.server import FluxLanguageServer

log = logging.getLogger("flux.lsp")

RECENT_ROWS = 8
PREPARED_GROUPS = 4
"""How many failures of a file get their why text worked out ahead of a hover."""
PREPARED_CALLS = 8
"""How many `ctx` calls of a file get their recent results read ahead of a hover."""


@dataclass(slots=True, frozen=True)
class CallSiteText:
    """A call site's hover text, with the change token and time it was read at."""

    text: str
    token: int | None
    read_at: float


def _markup(text: str, where: types.Range | Span | None) -> types.Hover:
    if isinstance(where, Span):
        where = types.Range(
            start=types.Position(line=where.line, character=where.col),
            end=types.Position(line=where.end_line, character=where.end_col),
        )
    return types.Hover(
        contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=text), range=where
    )


async def why_text(
    ls: FluxLanguageServer, project: FluxProject, store: Store, group: HeldGroup
) -> str:
    """The why report of the group's latest failure, as Markdown (worked out once per token)."""
    latest = group.latest  # the full record, read with the file's failures

    async def compute() -> str:
        return markdown.why(await explain(store, latest))

    return await ls.why_cache.get_or_compute((latest.id, project.token), compute)


async def call_site_text(
    ls: FluxLanguageServer, project: FluxProject, store: Store, relative: str, call: CtxCall
) -> str:
    """The recent results of the call at `relative`:`call.line`, as Markdown."""

    def fresh(held: CallSiteText) -> bool:
        return held_fresh(project, held.token, held.read_at)

    async def compute() -> CallSiteText:
        token, now = project.token, time.time()
        since = now - project.settings.window_seconds
        results = await store.call_sites(relative, call.line, since=since, limit=RECENT_ROWS)
        summary = summarize_call_site(relative, call.line, results)
        return CallSiteText(markdown.call_site(summary, call.label), token, now)

    key = (project.key, relative, call.line, call.label)
    return (await ls.call_site_cache.get_or_compute(key, compute, fresh)).text


async def hover(ls: FluxLanguageServer, params: types.HoverParams) -> types.Hover | None:
    with ls.background.busy():
        return await _hover(ls, params)


async def _hover(ls: FluxLanguageServer, params: types.HoverParams) -> types.Hover | None:
    uri = params.text_document.uri
    line = params.position.line
    found = await ls.projects.file_for(uri)
    if found is None:
        return None
    project, fs = found
    store = await ls.projects.store_for(project)
    if store is None:
        return None
    try:
        placed = ls.diagnostics.group_at(uri, line)
        if placed is not None:
            text = await why_text(ls, project, store, placed.group)
            if placed.group.count > 1:
                text += f"\n\n*{placed.group.count} failures like this in the last "
                text += f"{project.settings.window}*"
            return _markup(text, placed.diagnostic.range)
        source = ls.document_source(uri)
        if source is None:
            return None
        target = await resolve(source, fs, line, params.position.character)
        if isinstance(target, CtxCall):
            relative = project.relative_uri(uri) or project.relative(Path(fs))
            text = await call_site_text(ls, project, store, relative, target)
            return _markup(text, target.span)
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


def _shown_groups(ls: FluxLanguageServer, uri: str) -> list[HeldGroup]:
    """The failure groups a hover on `uri` can show: where several cover one line, the hover
    shows the first (`group_at`), so the others need no why text ahead."""
    shown: dict[str, HeldGroup] = {}
    for placed in ls.diagnostics.placed.get(uri, []):
        if not placed.anchor.found:
            continue
        first = ls.diagnostics.group_at(uri, placed.anchor.start_line)
        if first is not None:
            shown.setdefault(first.group.latest.id, first.group)
    return list(shown.values())


async def prepare(ls: FluxLanguageServer, uri: str) -> None:
    """Work out, ahead of a hover, what hovering `uri`'s failures, `ctx` calls and handler
    shows, a step at a time while the editor waits for nothing (`Background.quiet`). Called
    when the file's failures are published; never raises."""
    try:
        found = await ls.projects.file_for(uri)
        source = ls.document_source(uri) if found is not None else None
        if found is None or source is None:
            return
        project, fs = found
        store = await ls.projects.store_for(project)
        if store is None:
            return
        for group in _shown_groups(ls, uri)[:PREPARED_GROUPS]:
            await ls.background.quiet()
            await why_text(ls, project, store, group)
        relative = project.relative_uri(uri) or project.relative(Path(fs))
        for call in (await ctx_calls(source, fs))[:PREPARED_CALLS]:
            await ls.background.quiet()
            await call_site_text(ls, project, store, relative, call)
        function = project.function_name(fs)
        if function is not None and await definition_line(source, fs) is not None:
            await ls.background.quiet()
            await ls.run_summaries.get(project, store, function)
    except RecorderError:
        return  # the hover itself reports it
    except Exception:
        log.exception("preparing the hovers of %s failed", uri)


def register(ls: FluxLanguageServer) -> None:
    ls.feature(types.TEXT_DOCUMENT_HOVER)(hover)
