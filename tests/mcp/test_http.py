"""`flux mcp --http`: streamable HTTP on loopback only, and only with the token.

A real `flux mcp --http` process on a free loopback port; the SDK's streamable HTTP client
with the token lists the tools and asks why; without it, or with a wrong one, the answer is
401; a non-loopback `--host` and a missing token are refused with one line.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import httpx2
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from tests.harness import copy_shop

TOKEN = "mcp-test-token-0123456789"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _flux(*args: str, **env: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "flux_lsp", "mcp", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **env},
    )


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    shop = copy_shop(tmp_path)
    port = _free_port()
    proc = _flux("--http", "--port", str(port), "-p", str(shop), FLUX_MCP_TOKEN=TOKEN)
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        for _ in range(200):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.1):
                    break
            except OSError:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


async def test_with_the_token_the_sdk_client_works(served: str) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with (
        httpx2.AsyncClient(headers=headers) as http,
        streamable_http_client(served, http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        tools = (await session.list_tools()).tools
        assert "why" in {t.name for t in tools}
        result = await session.call_tool("why", {"id": "abcdef12"})
        assert result.is_error
        text = result.content[0].text  # type: ignore[union-attr]
        assert text.startswith("no recorder at ") and "\n" not in text  # nothing recorded yet


async def test_without_the_token_401(served: str) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    async with httpx.AsyncClient() as client:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
            r = await client.post(
                served,
                json=body,
                headers={**headers, "Accept": "application/json, text/event-stream"},
            )
            assert r.status_code == 401, (headers, r.text)
            assert TOKEN not in r.text


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (
            ("--http", "--host", "0.0.0.0"),
            {"FLUX_MCP_TOKEN": TOKEN},
            "flux: refusing to serve MCP on '0.0.0.0': use a loopback address such as 127.0.0.1",
        ),
        (
            ("--http",),
            {"FLUX_MCP_TOKEN": ""},
            "flux: --http needs a token: pass --mcp-token or set FLUX_MCP_TOKEN",
        ),
    ],
)
async def test_refused_with_one_line(
    tmp_path: Path, args: tuple[str, ...], env: dict[str, str], message: str
) -> None:
    shop = copy_shop(tmp_path)
    proc = _flux(*args, "-p", str(shop), **env)
    _out, err = await asyncio.to_thread(proc.communicate, timeout=60)
    assert proc.returncode == 1
    assert err.decode().strip() == message
