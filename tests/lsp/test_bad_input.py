"""Bad input never crashes the server: unknown ids, malformed arguments, missing, corrupt and
newer-schema recorders each get an LSP error response or a shown message, and the server
keeps answering."""

from __future__ import annotations

from pathlib import Path

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import LanguageClient

from tests.harness import copy_shop
from tests.lsp.recording import (
    WEBHOOK,
    Recording,
    execute_command,
    open_document,
    start_client,
    stop_client,
    wait_for_diagnostics,
)
from tests.recorders import forget_recorder, make_newer


async def _still_serving(lsp: LanguageClient, recording: Recording) -> None:
    result = await execute_command(lsp, "flux.tail", {"limit": 1})
    assert isinstance(result, dict) and result["kind"] == "tail"
    assert recording.project.exists()


BAD_ARGUMENTS = [
    ("flux.why", [{"id": "req:ffffffff"}], "no execution matches"),
    ("flux.why", [{"id": "zz-not-hex"}], "no execution matches"),
    ("flux.why", ["req:7c8d9e0f"], "expected an object"),
    ("flux.trace", [], "'id' must be a non-empty string"),
    ("flux.trace", [42], "expected an object"),
    ("flux.why", [{"id": 7}], "'id' must be a non-empty string"),
    ("flux.tail", [{"limit": "lots"}], "'limit' must be a number"),
    ("flux.tail", [{"status": "teapot"}], "bad status"),
    ("flux.incidentReplay", [{"window": "later..sooner"}], "bad time"),
    ("flux.incidentReplay", [{}], 'pass {"window"'),
    ("flux.traceDiff", [{"id": "req:ffffffff"}], "no execution matches"),
    ("flux.replay", [{"id": "req:ffffffff", "uri": 5}], "'uri' must be a string"),
    ("flux.nope", [], "not defined"),
]


async def test_bad_command_arguments_get_an_error_response(
    lsp: LanguageClient, recording: Recording
) -> None:
    for command, arguments, message in BAD_ARGUMENTS:
        with pytest.raises(JsonRpcException) as info:
            await execute_command(lsp, command, *arguments)
        assert message in str(info.value), (command, arguments, str(info.value))
        assert "Traceback" not in str(info.value)
        await _still_serving(lsp, recording)


async def _messages(lsp: LanguageClient, needle: str) -> list[str]:
    for _ in range(250):
        found = [m.message for m in lsp.messages if needle in m.message]
        if found:
            return found
        await lsp_sleep()
    raise AssertionError(f"no message containing {needle!r}: {lsp.messages}")


async def lsp_sleep() -> None:
    import asyncio

    await asyncio.sleep(0.02)


async def _open_without_diagnostics(lsp: LanguageClient, project: Path) -> str:
    uri = (project / WEBHOOK).as_uri()
    open_document(lsp, uri, (project / WEBHOOK).read_text())
    return uri


async def test_missing_recorder_is_shown_and_later_picked_up(tmp_path: Path) -> None:
    project = copy_shop(tmp_path)
    lsp = await start_client(project)
    try:
        uri = await _open_without_diagnostics(lsp, project)
        (message,) = await _messages(lsp, "no recorder")
        assert message.startswith("Flux: ")
        with pytest.raises(JsonRpcException, match="no recorder"):
            await execute_command(lsp, "flux.why", {"id": "req:12345678"})
        # the recorder appears (flux dev starts recording): diagnostics follow without an edit
        from tests.lsp.recording import record_more

        rid = await record_more(project, "cus_NEW")
        (d,) = await wait_for_diagnostics(lsp, uri, lambda d: len(d) == 1, timeout=10)
        assert f"req:{rid[:8]}" in d.message
    finally:
        await stop_client(lsp)


async def test_corrupt_recorder_is_shown_not_fatal(tmp_path: Path) -> None:
    project = copy_shop(tmp_path)
    (project / ".flux").mkdir()
    (project / ".flux" / "recorder.db").write_bytes(b"this is not a database" * 100)
    lsp = await start_client(project)
    try:
        await _open_without_diagnostics(lsp, project)
        (message,) = await _messages(lsp, "not a readable recorder")
        with pytest.raises(JsonRpcException, match="not a readable recorder"):
            await execute_command(lsp, "flux.tail")
        hover = await lsp.text_document_hover_async(
            types.HoverParams(
                text_document=types.TextDocumentIdentifier(uri=(project / WEBHOOK).as_uri()),
                position=types.Position(line=5, character=12),
            )
        )
        assert hover is None
        assert "Flux:" in message
    finally:
        await stop_client(lsp)


async def test_newer_schema_recorder_is_refused_clearly(recording: Recording) -> None:
    make_newer(recording.location)
    lsp = await start_client(recording.project)
    try:
        await _open_without_diagnostics(lsp, recording.project)
        (message,) = await _messages(lsp, "newer than this Flux understands")
        assert "upgrade Flux" in message
        with pytest.raises(JsonRpcException, match="newer than this Flux"):
            await execute_command(lsp, "flux.why", {"id": recording.failed_webhooks[0]})
    finally:
        await stop_client(lsp)


async def test_settings_per_folder_point_at_another_recorder_and_window(
    recording: Recording, tmp_path: Path
) -> None:
    """`flux.recorder` and `flux.window` come from workspace/configuration (a file moved
    elsewhere, or the database URL taken out of flux.toml)."""
    other = forget_recorder(recording.project, tmp_path / "elsewhere" / "rec.db")
    lsp = await start_client(recording.project, configuration={"recorder": str(other)})
    try:
        uri = recording.uri(WEBHOOK)
        open_document(lsp, uri, recording.text(WEBHOOK))
        (d,) = await wait_for_diagnostics(lsp, uri, lambda d: len(d) == 1)
        assert "2× in 24h" in d.message
    finally:
        await stop_client(lsp)
    lsp = await start_client(
        recording.project, configuration={"recorder": str(other), "window": "7d"}
    )
    try:
        uri = recording.uri(WEBHOOK)
        open_document(lsp, uri, recording.text(WEBHOOK))
        (d,) = await wait_for_diagnostics(lsp, uri, lambda d: len(d) == 1)
        assert "2× in 7d" in d.message
    finally:
        await stop_client(lsp)
