"""A function that cannot load, as a diagnostic on its line.

When a function file is opened or saved, the language server imports it the way `flux dev`
does (`runtime.catalog.describe`: a syntax error, no `handler`, a sync handler, a signature
that is not `(req, ctx)` / `(job, ctx)`, an import that fails) and publishes the problem on the
line it names, beside the recorded failures (`diagnostics.publish` merges both). A problem in
shared code (`lib/…`) is shown on the function's first line, naming the file and line; saving
any other Python file of the project (shared code) checks the open function files again. The
import runs in a worker thread so a slow module does not hold up the editor.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from lsprotocol import types
from pygls.uris import to_fs_path

from flux_lsp.lsp.projects import FluxProject
from flux_lsp.runtime.catalog import describe
from flux_lsp.runtime.functions import FunctionRegistry, LoadProblem

if TYPE_CHECKING:
    from flux_lsp.lsp.server import FluxLanguageServer

log = logging.getLogger("flux.lsp")

SOURCE = "flux"
CODE = "load-error"


def problem_of(project: FluxProject, name: str) -> LoadProblem | None:
    """Import function `name` of `project` from disk; its load problem, or None when it loads."""
    registry = FunctionRegistry(project.functions_dir, project_root=project.root)
    try:
        return describe(registry, name).error
    except (SystemExit, KeyboardInterrupt) as exc:  # a module that exits on import
        return LoadProblem(
            project.relative(registry.path_of(name)), 1, f"import failed: {type(exc).__name__}"
        )
    finally:
        registry.close()


def diagnostic_for(problem: LoadProblem, own_file: str, lines: list[str]) -> types.Diagnostic:
    """The diagnostic of `problem` in the file `own_file` (project-relative), whose text is
    `lines`: on the problem's line when it is in this file, else on the first line."""
    here = problem.file == own_file
    line = min(max(problem.line - 1, 0), max(len(lines) - 1, 0)) if here else 0
    text = lines[line] if line < len(lines) else ""
    start = (
        problem.column if here and problem.column is not None else len(text) - len(text.lstrip())
    )
    start = min(max(start, 0), len(text))
    end = len(text) if len(text) > start else start + 1
    message = f"Flux cannot load this function: {problem.message}"
    if not here:
        message = f"Flux cannot load this function: {problem}"
    return types.Diagnostic(
        range=types.Range(
            start=types.Position(line=line, character=start),
            end=types.Position(line=line, character=end),
        ),
        message=message,
        severity=types.DiagnosticSeverity.Error,
        source=SOURCE,
        code=CODE,
    )


async def _function_of(ls: FluxLanguageServer, uri: str) -> tuple[FluxProject, str, str] | None:
    """The project, function name and path of a function file's uri; None for other files."""
    fs = to_fs_path(uri)
    project = await ls.projects.project_for(uri) if fs else None
    name = project.function_name(fs) if project is not None and fs else None
    if project is None or name is None or name.startswith("_") or not fs:
        return None
    return project, name, fs


async def check(ls: FluxLanguageServer, uri: str) -> None:
    """Import the function `uri` names and publish its load problem (or clear it). Never raises."""
    try:
        found_function = await _function_of(ls, uri)
        if found_function is None:
            return
        project, name, fs = found_function
        problem = await asyncio.to_thread(problem_of, project, name)
        if uri not in ls.open_uris:
            return
        found: list[types.Diagnostic] = []
        if problem is not None:
            lines = ls.workspace.get_text_document(uri).source.splitlines()
            found.append(diagnostic_for(problem, project.relative(Path(fs)), lines))
        ls.diagnostics.load[uri] = found
        from flux_lsp.lsp.diagnostics import publish

        publish(ls, uri)
    except Exception:
        log.exception("checking %s for load errors failed", uri)


def register(ls: FluxLanguageServer) -> None:
    @ls.feature(types.TEXT_DOCUMENT_DID_SAVE)
    async def did_save(ls: FluxLanguageServer, params: types.DidSaveTextDocumentParams) -> None:
        uri = params.text_document.uri
        if await _function_of(ls, uri) is not None:
            await check(ls, uri)
        elif uri.endswith(".py"):  # shared code: the open functions may import it
            for other in sorted(ls.open_uris):
                await check(ls, other)
