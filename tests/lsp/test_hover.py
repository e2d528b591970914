"""Hover and code lens: what production did on this line, from the real recorder."""

from __future__ import annotations

import re

from lsprotocol import types
from pytest_lsp import LanguageClient

from tests.lsp.recording import (
    WEBHOOK,
    Recording,
    open_document,
    open_webhook,
)


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines()) if needle in line)


async def _hover_range(
    lsp: LanguageClient, uri: str, line: int, character: int
) -> tuple[str | None, tuple[int, int, int, int] | None]:
    """The hover's Markdown and the range it describes, (line, col, end line, end col)."""
    result = await lsp.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=line, character=character),
        )
    )
    if result is None:
        return None, None
    assert isinstance(result.contents, types.MarkupContent)
    assert result.contents.kind == types.MarkupKind.Markdown
    r = result.range
    where = None if r is None else (r.start.line, r.start.character, r.end.line, r.end.character)
    return result.contents.value, where


async def _hover(lsp: LanguageClient, uri: str, line: int, character: int) -> str | None:
    return (await _hover_range(lsp, uri, line, character))[0]


async def test_hover_on_the_failing_line_is_the_why_report(
    lsp: LanguageClient, recording: Recording
) -> None:
    uri, text, _ = await open_webhook(lsp, recording)
    # any line of the multi-line failing call
    line = _line_of(text, '{"customer_id": customer_id}')
    value, where = await _hover_range(lsp, uri, line, 12)
    assert value is not None
    # the range it describes is the diagnostic's: the whole failing call
    start = _line_of(text, "await ctx.db.update(")
    assert where is not None and (where[0], where[2]) == (start, start + 4)
    latest = recording.failed_webhooks[-1]
    assert "**ROOT CAUSE** Row not found: subscriptions" in value
    assert "**INPUT** Stripe event: payment\\_intent.succeeded" in value
    assert "customer\\_id: cus\\_DEF  amount: 4900" in value
    assert "**DATA CHANGES** subscriptions  UPDATE  0 rows affected" in value
    assert "**SUGGESTION**" in value
    assert f"req:{latest[:8]}" in value


async def test_hover_on_a_ctx_call_shows_its_recent_results(
    lsp: LanguageClient, recording: Recording
) -> None:
    uri = recording.uri(WEBHOOK)
    text = recording.text(WEBHOOK)
    open_document(lsp, uri, text)
    line = _line_of(text, "await ctx.email.send(")
    value, where = await _hover_range(lsp, uri, line, 20)
    assert value is not None
    assert "`ctx.email.send`" in value
    call = text.splitlines()[line]
    assert where == (line, call.index("ctx.email"), line, call.rindex(")") + 1)
    assert f"`req:{recording.good_webhook[:8]}`" in value


async def test_hover_on_the_handler_shows_recent_executions_with_percentiles(
    lsp: LanguageClient, recording: Recording
) -> None:
    uri = recording.uri(WEBHOOK)
    text = recording.text(WEBHOOK)
    open_document(lsp, uri, text)
    line = _line_of(text, "async def handler")
    value, where = await _hover_range(lsp, uri, line, 12)
    assert value is not None
    column = text.splitlines()[line].index("handler")
    assert where == (line, column, line, column + len("handler"))
    assert re.search(r"3 runs · 2 failed · p50 \S+ · p95 \S+", value)
    for rid in (*recording.failed_webhooks, recording.good_webhook):
        assert f"`req:{rid[:8]}`" in value
    assert "| 500 |" in value and "| 200 |" in value


async def test_hover_elsewhere_is_empty(lsp: LanguageClient, recording: Recording) -> None:
    uri = recording.uri(WEBHOOK)
    open_document(lsp, uri, recording.text(WEBHOOK))
    assert await _hover(lsp, uri, 0, 0) is None


async def test_code_lens_on_the_handler(lsp: LanguageClient, recording: Recording) -> None:
    uri = recording.uri(WEBHOOK)
    text = recording.text(WEBHOOK)
    open_document(lsp, uri, text)
    lenses = await lsp.text_document_code_lens_async(
        types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    assert lenses is not None
    (lens,) = lenses
    assert lens.range.start.line == _line_of(text, "async def handler")
    assert lens.command is not None
    assert re.fullmatch(r"3 runs · 2 failed · p95 \d+ ms", lens.command.title)
    assert lens.command.command == "flux.tail"
    result = await lsp.workspace_execute_command_async(
        types.ExecuteCommandParams(
            command=lens.command.command, arguments=list(lens.command.arguments or [])
        )
    )
    assert result["kind"] == "tail"
    ids = {line["id"] for line in result["report"]["lines"]}
    assert ids == {*recording.failed_webhooks, recording.good_webhook}
    assert "stripe_webhook" in result["markdown"]
