"""Debug this request from the editor: the code lens on a failing line, `flux.debug`, and a real
DAP client attached to the endpoint it returns (the session runs on the unsaved buffer)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import LanguageClient

from tests.lsp.recording import (
    WEBHOOK,
    Recording,
    execute_command,
    open_webhook,
    replace_document,
    start_client,
    stop_client,
)
from tests.replay.dap import DapClient
from tests.replay.test_debug import FIXED_WEBHOOK


async def _message(lsp: LanguageClient, needle: str, timeout: float = 60) -> str:
    async def wait() -> str:
        while True:
            for m in lsp.messages:
                if needle in m.message:
                    return m.message
            await asyncio.sleep(0.05)

    return await asyncio.wait_for(wait(), timeout)


async def test_the_lens_on_the_failing_line_starts_a_debug_session(
    lsp: LanguageClient, recording: Recording
) -> None:
    uri, _text, (diagnostic,) = await open_webhook(lsp, recording)
    lenses = await lsp.text_document_code_lens_async(
        types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    assert lenses is not None
    latest = recording.failed_webhooks[-1]
    rid = f"req:{latest[:8]}"
    (lens,) = [x for x in lenses if x.command and x.command.command == "flux.debug"]
    assert lens.command is not None
    assert lens.command.title == f"Flux: Debug this request ({rid})"
    assert lens.range.start.line == diagnostic.range.start.line == 11

    result = await execute_command(lsp, "flux.debug", *(lens.command.arguments or []))
    endpoint = result["report"]
    assert result["kind"] == "debug" and result["execution_id"] == latest
    assert endpoint["host"] == "127.0.0.1" and endpoint["pid"] != os.getpid()
    assert endpoint["stop_at"]["line"] == 12
    dap = await DapClient.connect(endpoint["host"], endpoint["port"])
    try:
        await dap.attach()
        stop = await dap.stopped()
        assert (Path(stop.file).name, stop.line) == ("stripe_webhook.py", 12)
        assert stop.variables["customer_id"] == "'cus_DEF'"
        await dap.request("continue", threadId=stop.thread)
        await dap.event("terminated")
    finally:
        await dap.close()
    message = await _message(lsp, f"debug session of {rid} ended")
    assert message.endswith(
        "still failing: Row not found: subscriptions WHERE customer_id = 'cus_DEF'"
    )


async def test_the_session_runs_the_unsaved_buffer(
    lsp: LanguageClient, recording: Recording
) -> None:
    uri, _text, _ = await open_webhook(lsp, recording)
    replace_document(lsp, uri, FIXED_WEBHOOK, 2)
    first = recording.failed_webhooks[0]
    result = await execute_command(lsp, "flux.debug", {"id": first, "uri": uri})
    endpoint = result["report"]
    dap = await DapClient.connect(endpoint["host"], endpoint["port"])
    try:
        await dap.attach()
        stop = await dap.stopped()
        assert stop.variables["customer_id"] == "'cus_ABC'"
        assert "rows" not in stop.variables  # line 12 of the buffer: `rows = await ...`
        await dap.request("continue", threadId=stop.thread)
        await dap.event("terminated")
    finally:
        await dap.close()
    assert (await _message(lsp, f"req:{first[:8]} ended")).endswith("ended: passing")
    assert (recording.project / WEBHOOK).read_text() != FIXED_WEBHOOK


async def test_bad_input_answers_with_one_clear_error(
    lsp: LanguageClient, recording: Recording
) -> None:
    with pytest.raises(JsonRpcException, match=r"flux\.debug: .*ffffffff"):
        await execute_command(lsp, "flux.debug", {"id": "req:ffffffff"})
    (recording.project / WEBHOOK).unlink()
    with pytest.raises(JsonRpcException, match="function stripe_webhook no longer exists"):
        await execute_command(lsp, "flux.debug", {"id": recording.failed_webhooks[0]})


async def test_a_remote_recorder_is_never_asked_to_debug(recording: Recording) -> None:
    lsp = await start_client(recording.project, {"recorder": "http://127.0.0.1:9"})
    try:
        with pytest.raises(JsonRpcException, match="runs on this machine only"):
            await execute_command(lsp, "flux.debug", {"id": recording.failed_webhooks[0]})
    finally:
        await stop_client(lsp)
