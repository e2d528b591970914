"""What an editor is shown for a Flux project: diagnostics and hover, from `flux lsp`.

Starts the language server over stdio with a real LSP client (pygls), opens the Stripe
webhook function as an editor would, and prints the diagnostics the server publishes and the
hover on the failing line. `make demo` runs it on its scratch project:

    python examples/editor_view.py PROJECT_DIR
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from lsprotocol import types
from pygls.lsp.client import LanguageClient
from pygls.uris import from_fs_path

FILE = "functions/stripe_webhook.py"
SEVERITY = {1: "error", 2: "warning", 3: "information", 4: "hint"}


async def show(project: Path) -> int:
    client = LanguageClient("flux-demo", "1")
    published: asyncio.Queue[types.PublishDiagnosticsParams] = asyncio.Queue()

    @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def on_diagnostics(params: types.PublishDiagnosticsParams) -> None:
        published.put_nowait(params)

    @client.feature(types.WORKSPACE_CONFIGURATION)
    def on_configuration(params: types.ConfigurationParams) -> list[object]:
        return [{} for _ in params.items]

    await client.start_io(sys.executable, "-m", "flux_lsp", "lsp")
    root = from_fs_path(str(project)) or ""
    await client.initialize_async(
        types.InitializeParams(
            capabilities=types.ClientCapabilities(),
            root_uri=root,
            workspace_folders=[types.WorkspaceFolder(uri=root, name=project.name)],
        )
    )
    client.initialized(types.InitializedParams())
    path = project / FILE
    uri = from_fs_path(str(path)) or ""
    text = path.read_text()
    lines = text.splitlines()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri, language_id="python", version=1, text=text
            )
        )
    )
    diagnostics: list[types.Diagnostic] = []
    try:
        while not diagnostics:
            params = await asyncio.wait_for(published.get(), timeout=15)
            if params.uri == uri:
                diagnostics = list(params.diagnostics)
    except TimeoutError:
        print("  (the language server published no diagnostics)")
    print(f"  {FILE}: {len(diagnostics)} diagnostic(s)")
    for d in diagnostics:
        start, end = d.range.start, d.range.end
        where = f"{start.line + 1}:{start.character + 1}–{end.line + 1}:{end.character + 1}"
        print(f"  {SEVERITY.get(int(d.severity or 1), '?')}  {where}  [{d.source}]")
        print(f"    {d.message}")
        source = lines[start.line]
        print(f"    {source}")
        width = max(1, (end.character if end.line == start.line else len(source)) - start.character)
        print(f"    {' ' * start.character}{'~' * width}")
    if diagnostics:
        position = diagnostics[0].range.start
        hover = await client.text_document_hover_async(
            types.HoverParams(
                text_document=types.TextDocumentIdentifier(uri=uri), position=position
            )
        )
        print(f"\n  hover on line {position.line + 1}:\n")
        if hover is not None and isinstance(hover.contents, types.MarkupContent):
            for line in hover.contents.value.splitlines():
                print(f"    │ {line}")
        else:
            print("    (no hover)")
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    return 0 if diagnostics else 1


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: editor_view.py PROJECT_DIR")
    sys.exit(asyncio.run(show(Path(sys.argv[1]).resolve())))


if __name__ == "__main__":
    main()
