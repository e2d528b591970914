"""The language server never leaves a request hanging and never freezes: a request before
`initialize` gets -32002, params of the wrong shape get -32602, a hover on a file that was never
opened gets an empty answer, a 50 MB document does not slow the next hover, and a client that
goes away without `shutdown` does not leave the server running. Spoken over
stdio as raw JSON-RPC, since a typed client cannot send malformed params."""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.lsp.recording import WEBHOOK, Recording


class RawClient:
    """Content-Length framed JSON-RPC over a `flux lsp` child's stdin and stdout."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.ids = itertools.count(1)

    async def send(self, message: dict[str, Any]) -> None:
        """Write one message and wait until the pipe took it (50 MB take a while)."""
        assert self.process.stdin is not None
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        await self.process.stdin.drain()

    async def request(self, method: str, params: Any) -> tuple[dict[str, Any], float]:
        """The response to one request, and the seconds it took."""
        ident = next(self.ids)
        started = time.monotonic()
        await self.send({"id": ident, "method": method, "params": params})
        while True:
            message = await asyncio.wait_for(self._read(), 30)
            if message.get("id") == ident and ("result" in message or "error" in message):
                return message, time.monotonic() - started
            if "id" in message and "method" in message:  # a request from the server
                await self.send({"id": message["id"], "result": None})

    async def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        length = 0
        while True:
            line = await self.process.stdout.readline()
            if not line:
                raise EOFError("the server closed its output")
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
            if line == b"\r\n" and length:
                break
        data: dict[str, Any] = json.loads(await self.process.stdout.readexactly(length))
        return data


@pytest.fixture
async def raw(recording: Recording) -> AsyncIterator[RawClient]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "flux_lsp",
        "lsp",
        cwd=recording.project,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        limit=64 * 1024 * 1024,
    )
    yield RawClient(process)
    if process.returncode is None:
        process.kill()
    await process.wait()


def hover_params(uri: str, line: Any, character: Any = 4) -> dict[str, Any]:
    return {"textDocument": {"uri": uri}, "position": {"line": line, "character": character}}


async def initialize(raw: RawClient, recording: Recording) -> None:
    """Initialize, then one hover that opens the recorder (not timed)."""
    root = recording.uri("")
    answer, _ = await raw.request(
        "initialize", {"processId": None, "rootUri": root, "capabilities": {}}
    )
    assert "result" in answer
    await raw.send({"method": "initialized", "params": {}})
    await normal_hover(raw, recording)


async def normal_hover(raw: RawClient, recording: Recording) -> float:
    """A hover on the webhook's `def handler` line: its run statistics, and the seconds."""
    uri = recording.uri(WEBHOOK)
    text = recording.text(WEBHOOK)
    await raw.send(
        {
            "method": "textDocument/didOpen",
            "params": {
                "textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": text}
            },
        }
    )
    line = next(n for n, row in enumerate(text.splitlines()) if row.startswith("async def"))
    answer, seconds = await raw.request("textDocument/hover", hover_params(uri, line))
    assert "stripe_webhook" in json.dumps(answer["result"]), answer
    return seconds


async def test_a_request_before_initialize_gets_32002(raw: RawClient, recording: Recording) -> None:
    answer, _ = await raw.request("textDocument/hover", hover_params(recording.uri(WEBHOOK), 0))
    assert answer["error"]["code"] == -32002
    assert answer["error"]["message"] == "textDocument/hover before initialize"
    await initialize(raw, recording)
    assert await normal_hover(raw, recording) < 2


async def test_params_of_the_wrong_shape_get_32602(raw: RawClient, recording: Recording) -> None:
    await initialize(raw, recording)
    bad = hover_params(recording.uri(WEBHOOK), "twelve")
    answer, seconds = await raw.request("textDocument/hover", bad)
    assert answer["error"]["code"] == -32602
    assert seconds < 2
    assert await normal_hover(raw, recording) < 2


async def test_a_file_never_opened_gets_an_empty_answer(
    raw: RawClient, recording: Recording
) -> None:
    await initialize(raw, recording)
    for relative in ("functions/create_user.py", "functions/not_there.py"):
        answer, _ = await raw.request(
            "textDocument/hover", hover_params(recording.uri(relative), 3)
        )
        assert answer == {"jsonrpc": "2.0", "id": answer["id"], "result": None}, answer.get(
            "error", {}
        ).get("message")
    assert await normal_hover(raw, recording) < 2


async def test_a_50_mb_document_does_not_freeze_the_server(
    raw: RawClient, recording: Recording
) -> None:
    await initialize(raw, recording)
    huge_uri = recording.uri("functions/huge.py")
    line = "value = ctx.db.query('SELECT 1')  # " + "x" * 60 + "\n"
    text = "async def handler(req, ctx):\n" + line * (50 * 1024 * 1024 // len(line))
    await raw.send(
        {
            "method": "textDocument/didOpen",
            "params": {
                "textDocument": {
                    "uri": huge_uri,
                    "languageId": "python",
                    "version": 1,
                    "text": text,
                }
            },
        }
    )
    answer, _ = await raw.request("textDocument/hover", hover_params(huge_uri, 5))
    assert answer["result"] is None  # no syntax-tree work on a document this size
    assert await normal_hover(raw, recording) < 2


async def test_the_server_exits_when_its_client_goes_away_without_shutdown(
    raw: RawClient, recording: Recording
) -> None:
    """An editor that crashes, or quits without `shutdown` (Emacs's `kill-emacs`), only
    closes the server's stdin: the server closes the recorder it opened and exits, rather than
    linger holding the file."""
    await initialize(raw, recording)  # its hover opened the recorder
    assert raw.process.stdin is not None
    raw.process.stdin.close()
    assert await asyncio.wait_for(raw.process.wait(), 30) == 0
