"""Recorded failures as diagnostics, end to end: real recorder, real `flux lsp` over stdio."""

from __future__ import annotations

import re

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from tests.harness import FluxApp
from tests.lsp.recording import (
    CREATE_USER,
    WEBHOOK,
    Recording,
    open_document,
    open_webhook,
    post_webhook,
    record_more,
    replace_document,
    start_client,
    stop_client,
    wait_for_diagnostics,
)


def _call_range(text: str) -> tuple[int, int, int, int]:
    """(start line, start col, end line, end col) of the `await ctx.db.update(...)` call."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if "await ctx.db.update(" in line)
    end = next(i for i in range(start, len(lines)) if lines[i].strip() == ")")
    return start, lines[start].index("await"), end, lines[end].index(")") + 1


async def test_failing_webhook_lands_on_the_raising_line(
    lsp: LanguageClient, recording: Recording
) -> None:
    uri = recording.uri(WEBHOOK)
    text = recording.text(WEBHOOK)
    open_document(lsp, uri, text, version=7)
    diagnostics = await wait_for_diagnostics(lsp, uri, lambda d: len(d) == 1)
    (d,) = diagnostics
    start, col, end, end_col = _call_range(text)
    assert (d.range.start.line, d.range.start.character) == (start, col)
    assert (d.range.end.line, d.range.end.character) == (end, end_col)
    assert d.severity == types.DiagnosticSeverity.Error
    assert d.source == "flux"
    assert isinstance(d.code, str) and re.fullmatch(r"[0-9a-f]{12}", d.code)
    latest = recording.failed_webhooks[-1]
    assert re.fullmatch(
        r"Row not found: subscriptions WHERE customer_id = 'cus_DEF' — 2× in 24h, "
        rf"latest req:{latest[:8]} \d\d:\d\d",
        d.message,
    )
    assert isinstance(d.data, dict)
    assert set(d.data["ids"]) == set(recording.failed_webhooks)
    assert d.data["latest"] == latest


async def test_client_error_is_a_warning(lsp: LanguageClient, recording: Recording) -> None:
    uri = recording.uri(CREATE_USER)
    open_document(lsp, uri, recording.text(CREATE_USER))
    (d,) = await wait_for_diagnostics(lsp, uri, lambda d: len(d) == 1)
    assert d.severity == types.DiagnosticSeverity.Warning
    assert d.message.startswith("email required — 1× in 24h, latest req:")
    line = recording.text(CREATE_USER).splitlines()[d.range.start.line]
    assert 'return JSONResponse({"error": "email required"}' in line


async def test_inserted_lines_move_the_diagnostic(
    lsp: LanguageClient, recording: Recording
) -> None:
    uri = recording.uri(WEBHOOK)
    text = recording.text(WEBHOOK)
    open_document(lsp, uri, text)
    (before,) = await wait_for_diagnostics(lsp, uri, lambda d: len(d) == 1)
    edited = text.replace(
        "async def handler(req, ctx):\n",
        "async def handler(req, ctx):\n    # one\n    # two\n    # three\n",
    )
    replace_document(lsp, uri, edited, version=2)
    (after,) = await wait_for_diagnostics(
        lsp, uri, lambda d: len(d) == 1 and d[0].range.start.line == before.range.start.line + 3
    )
    assert after.severity == types.DiagnosticSeverity.Error
    assert after.range.start.character == before.range.start.character
    assert after.range.end.line == before.range.end.line + 3
    assert "await ctx.db.update(" in edited.splitlines()[after.range.start.line]


async def test_deleted_line_becomes_changed_information(
    lsp: LanguageClient, recording: Recording
) -> None:
    uri, text, _ = await open_webhook(lsp, recording)
    start, _col, end, _end_col = _call_range(text)
    lines = text.splitlines(keepends=True)
    edited = "".join(lines[:start] + lines[end + 1 :])
    replace_document(lsp, uri, edited, version=2)
    (d,) = await wait_for_diagnostics(
        lsp, uri, lambda d: len(d) == 1 and d[0].severity == types.DiagnosticSeverity.Information
    )
    assert "changed since it was recorded" in d.message
    assert "replay" in d.message
    def_line = edited.splitlines()[d.range.start.line]
    assert def_line.startswith("async def handler")
    assert def_line[d.range.start.character : d.range.end.character] == "handler"


async def test_a_failure_recorded_while_open_is_published_without_an_edit(
    lsp: LanguageClient, recording: Recording
) -> None:
    uri = recording.uri(WEBHOOK)
    open_document(lsp, uri, recording.text(WEBHOOK))
    await wait_for_diagnostics(lsp, uri, lambda d: len(d) == 1 and "2×" in d[0].message)
    newest = await record_more(recording.project, "cus_GHI")
    (d,) = await wait_for_diagnostics(
        lsp, uri, lambda d: len(d) == 1 and "3×" in d[0].message, timeout=5
    )
    assert f"latest req:{newest[:8]}" in d.message
    assert "cus_GHI" in d.message


async def test_a_failure_served_by_a_running_app_appears_without_an_edit(
    lsp: LanguageClient, recording: Recording
) -> None:
    """A running app records a failure; the editor shows it without an edit (the app is not
    stopped or flushed: its writer hands records over as it does). How soon is measured by
    bench/recorder_postgres.py, not asserted here."""
    uri = recording.uri(WEBHOOK)
    open_document(lsp, uri, recording.text(WEBHOOK))
    await wait_for_diagnostics(lsp, uri, lambda d: len(d) == 1 and "2×" in d[0].message)
    async with FluxApp(recording.project) as flux:
        rid = await post_webhook(flux, "cus_LIVE")
        (d,) = await wait_for_diagnostics(
            lsp, uri, lambda d: len(d) == 1 and "3×" in d[0].message, timeout=5
        )
    assert f"latest req:{rid[:8]}" in d.message


async def test_closing_the_document_clears_its_diagnostics(
    lsp: LanguageClient, recording: Recording
) -> None:
    uri = recording.uri(WEBHOOK)
    open_document(lsp, uri, recording.text(WEBHOOK))
    await wait_for_diagnostics(lsp, uri, lambda d: len(d) == 1)
    lsp.text_document_did_close(
        types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    await wait_for_diagnostics(lsp, uri, lambda d: d == [])


async def test_a_passing_replay_turns_the_error_into_a_fixed_hint(
    lsp: LanguageClient, recording: Recording
) -> None:
    uri, text, _ = await open_webhook(lsp, recording)
    fixed = text.replace(
        '{"status": "active", "paid_at": ctx.now()},',
        '{"status": "active", "paid_at": ctx.now()},\n            missing_ok=True,',
    )
    assert fixed != text
    replace_document(lsp, uri, fixed, version=2)  # unsaved: the replay must use this buffer
    latest = recording.failed_webhooks[-1]
    result = await lsp.workspace_execute_command_async(
        types.ExecuteCommandParams(command="flux.replay", arguments=[{"id": latest, "uri": uri}])
    )
    assert result["kind"] == "replay"
    assert result["execution_id"] == latest
    (outcome,) = result["report"]["outcomes"]
    assert outcome["outcome"] == "fixed", outcome
    assert result["report"]["overlay"] == [WEBHOOK]
    assert "← was 500" in result["markdown"]
    (d,) = await wait_for_diagnostics(
        lsp, uri, lambda d: len(d) == 1 and d[0].severity == types.DiagnosticSeverity.Hint
    )
    assert d.message.startswith(f"fixed in replay req:{outcome['replay_id'][:8]}")
    assert "await ctx.db.update(" in fixed.splitlines()[d.range.start.line]


async def test_a_failure_from_another_process_is_published_on_the_writers_signal(
    recording: Recording, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No poll tick is involved: the server polls once an hour here, so the failure can only
    arrive through the writer's commit signal (the signal file, or NOTIFY on PostgreSQL; the
    app's writer is another process)."""
    monkeypatch.setenv("FLUX_RECORDER_POLL_SECONDS", "3600")
    lsp = await start_client(recording.project)
    try:
        uri = recording.uri(WEBHOOK)
        open_document(lsp, uri, recording.text(WEBHOOK))
        await wait_for_diagnostics(lsp, uri, lambda d: len(d) == 1 and "2×" in d[0].message)
        async with FluxApp(recording.project) as flux:
            rid = await post_webhook(flux, "cus_SIGNAL")
            (d,) = await wait_for_diagnostics(
                lsp, uri, lambda d: len(d) == 1 and "3×" in d[0].message, timeout=10
            )
        assert f"latest req:{rid[:8]}" in d.message
    finally:
        await stop_client(lsp)
