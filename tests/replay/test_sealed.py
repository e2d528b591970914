"""Replay is sealed: a handler that calls httpx directly, not through `ctx.http`, reaches a
real loopback listener when it runs live, and during `flux replay` and `flux incident replay`
its call is refused, the outcome fails naming the call, and the listener sees no connection."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.harness import FluxApp, write_function
from tests.replay.test_incident_replay import flux

DIRECT = """\
import httpx


async def handler(req, ctx):
    try:
        async with httpx.AsyncClient() as client:
            await client.post("http://127.0.0.1:{port}/audit", json={{"seen": True}})
    except Exception:
        pass  # a handler that swallows the refusal still fails its replay
    return {{"ok": True}}
"""


class Listener:
    """A loopback TCP server that counts the connections it accepts."""

    def __init__(self) -> None:
        self.connections = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        await reader.read(65536)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
        await writer.drain()
        writer.close()


@pytest.fixture
async def listener() -> AsyncIterator[tuple[Listener, int]]:
    counting = Listener()
    server = await asyncio.start_server(counting.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield counting, port


async def test_a_direct_network_call_fails_the_replay_and_reaches_nobody(
    shop: Path, listener: tuple[Listener, int]
) -> None:
    counting, port = listener
    write_function(shop, "direct", DIRECT.format(port=port))
    async with FluxApp(shop) as app:
        live = await app.client.post("/direct")
        assert live.status_code == 200
        ident = live.headers["x-flux-request-id"]
        app.flush()
    assert counting.connections == 1  # live, the call went out

    code, out, _ = await flux(shop, "replay", ident, "--json")
    outcome = json.loads(out)["outcomes"][0]
    assert code == 1
    assert outcome["outcome"] != "passing"
    assert f"made a network call outside ctx.http: 127.0.0.1:{port}" in json.dumps(outcome)

    code, out, _ = await flux(shop, "incident", "replay", "-10m..now", "--function", "direct")
    assert code == 1
    assert "outside ctx.http" in out
    assert counting.connections == 1  # neither replay reached the listener
