"""Go to definition from a function or job name string to that function's file.

`ctx.queue.enqueue("send_onboarding_email", ...)`: with the cursor in the string, definition
jumps to `functions/send_onboarding_email.py`, at its `handler`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from lsprotocol import types
from pygls.uris import from_fs_path

from flux_lsp.lsp.resolve import NameString, definition_line, resolve

if TYPE_CHECKING:
    from flux_lsp.lsp.server import FluxLanguageServer


async def definition(
    ls: FluxLanguageServer, params: types.DefinitionParams
) -> list[types.Location] | None:
    uri = params.text_document.uri
    found = await ls.project_document(uri)
    if found is None:
        return None
    project, fs, source = found
    target = await resolve(source, fs, params.position.line, params.position.character)
    if not isinstance(target, NameString):
        return None
    file = project.functions_dir / f"{target.name}.py"
    if not file.is_file():
        return None
    text = file.read_text(encoding="utf-8", errors="replace")
    line = (await definition_line(text, str(file)) or 1) - 1
    col = max(0, text.splitlines()[line].find("handler")) if text.strip() else 0
    target_uri = from_fs_path(str(Path(file))) or str(file)
    position = types.Position(line=line, character=col)
    return [types.Location(uri=target_uri, range=types.Range(start=position, end=position))]


def register(ls: FluxLanguageServer) -> None:
    ls.feature(types.TEXT_DOCUMENT_DEFINITION)(definition)
