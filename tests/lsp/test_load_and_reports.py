"""Load errors as diagnostics, and reports shown to editors that do not render them.

A function with a syntax error or a sync handler gets a diagnostic on the line `flux dev`
names, cleared once the file is fixed and saved. A code action's report reaches every client:
as a Markdown document under `.flux/reports/` opened with `window/showDocument`, as a
`window/showMessage` verdict where documents cannot be shown, and not at all (the result is
enough) for a client that says it renders Flux's reports.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.uris import to_fs_path
from pytest_lsp import LanguageClient

from tests.lsp.recording import (
    Recording,
    execute_command,
    open_document,
    start_client,
    stop_client,
    wait_for_diagnostics,
)

TYPO = "import json\n\n\nasync def handler(req, ctx)\n    return json.dumps({})\n"
BLOCKING = "import time\n\n\ndef handler(req, ctx):\n    time.sleep(1)\n"
FIXED = "async def handler(req, ctx):\n    return {}\n"


def _save(lsp: LanguageClient, uri: str) -> None:
    lsp.text_document_did_save(
        types.DidSaveTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )


async def test_load_errors_are_diagnostics_on_their_line(recording: Recording) -> None:
    functions = recording.project / "functions"
    (functions / "typo.py").write_text(TYPO)
    (functions / "blocking.py").write_text(BLOCKING)
    lsp = await start_client(recording.project)
    try:
        typo_uri = recording.uri("functions/typo.py")
        open_document(lsp, typo_uri, TYPO)
        (typo,) = await wait_for_diagnostics(lsp, typo_uri, lambda d: len(d) == 1)
        assert (typo.range.start.line, typo.code, typo.source) == (3, "load-error", "flux")
        assert typo.message == "Flux cannot load this function: syntax error: expected ':'"
        assert typo.severity == types.DiagnosticSeverity.Error

        blocking_uri = recording.uri("functions/blocking.py")
        open_document(lsp, blocking_uri, BLOCKING)
        (sync,) = await wait_for_diagnostics(lsp, blocking_uri, lambda d: len(d) == 1)
        assert sync.range.start.line == 3 and sync.range.start.character == 0
        assert "`handler` must be async" in sync.message

        (functions / "typo.py").write_text(FIXED)
        _save(lsp, typo_uri)
        assert await wait_for_diagnostics(lsp, typo_uri, lambda d: d == []) == []
    finally:
        await stop_client(lsp)


async def test_a_broken_shared_module_is_shown_on_the_function_that_imports_it(
    recording: Recording,
) -> None:
    functions = recording.project / "functions"
    (recording.project / "lib").mkdir()
    pricing = recording.project / "lib" / "pricing.py"
    pricing.write_text("def total(items):\n    return sum(items)\n")
    checkout = "from lib.pricing import total\n\n\nasync def handler(req, ctx):\n    return {}\n"
    (functions / "checkout.py").write_text(checkout)
    lsp = await start_client(recording.project)
    try:
        uri = recording.uri("functions/checkout.py")
        open_document(lsp, uri, checkout)
        assert await wait_for_diagnostics(lsp, uri, lambda d: d == []) == []
        pricing.write_text("def total(items)\n    return sum(items)\n")
        _save(lsp, recording.uri("lib/pricing.py"))
        (problem,) = await wait_for_diagnostics(lsp, uri, lambda d: len(d) == 1)
        assert problem.range.start.line == 0
        assert problem.message == (
            "Flux cannot load this function: lib/pricing.py:1: syntax error: expected ':'"
        )
    finally:
        await stop_client(lsp)


async def _why(recording: Recording, **options: Any) -> tuple[LanguageClient, dict[str, Any]]:
    lsp = await start_client(recording.project, **options)
    latest = recording.failed_webhooks[-1]
    result = await execute_command(lsp, "flux.why", {"id": latest})
    return lsp, result


async def test_a_client_that_shows_documents_gets_the_report_as_markdown(
    recording: Recording,
) -> None:
    lsp, result = await _why(recording, client="neovim@v0.10.0")
    try:
        assert [d.uri for d in lsp.shown_documents] == [result["document"]]
        path = Path(to_fs_path(str(result["document"])) or "")
        assert path.parent == recording.project / ".flux" / "reports"
        text = path.read_text()
        assert text.startswith(f"**Flux: why req:{recording.failed_webhooks[-1][:8]}**")
        assert "**ROOT CAUSE** Row not found" in text
        assert lsp.messages == []
    finally:
        await stop_client(lsp)


async def test_a_client_without_show_document_gets_the_verdict_as_a_message(
    recording: Recording,
) -> None:
    lsp, _result = await _why(recording, client="neovim@v0.7.0")
    try:
        assert lsp.shown_documents == []
        (message,) = lsp.messages
        assert message.type == types.MessageType.Info
        assert message.message.startswith(
            f"Flux: why req:{recording.failed_webhooks[-1][:8]} — POST /stripe_webhook → 500: "
            "Row not found"
        )
        assert "(full report: " in message.message and "/.flux/reports/why-" in message.message
    finally:
        await stop_client(lsp)


async def test_a_client_that_renders_reports_is_shown_nothing(recording: Recording) -> None:
    lsp, result = await _why(recording, initialization_options={"rendersReports": True})
    try:
        assert result["document"] is None
        assert lsp.shown_documents == [] and lsp.messages == []
        assert not (recording.project / ".flux" / "reports").exists()
    finally:
        await stop_client(lsp)
