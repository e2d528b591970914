"""Request limits against a real `flux dev` process: a body over `[server] max_body` is a 413
that is never read whole and is still recorded; a large JSON body is recorded once, under the
cap; a connection that never finishes its headers, or a body that stalls, is cut off."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from pathlib import Path

import pytest

from tests.harness import copy_shop
from tests.serve.helpers import ServeProcess

CHUNK = b"x" * (1024 * 1024)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


async def _open(url: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = url.removeprefix("http://").split(":")
    return await asyncio.open_connection(host, int(port))


async def stream_body(url: str, path: str, megabytes: int) -> tuple[bytes, float, int]:
    """POST a chunked body of `megabytes` MB while reading the answer; (status line, seconds
    to it, MB sent before it)."""
    reader, writer = await _open(url)
    writer.write(
        f"POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/octet-stream\r\n"
        "transfer-encoding: chunked\r\n\r\n".encode()
    )
    started = time.monotonic()
    answer = asyncio.create_task(reader.readline())
    sent = 0
    try:
        while sent < megabytes and not answer.done():
            writer.write(b"%x\r\n%s\r\n" % (len(CHUNK), CHUNK))
            await writer.drain()
            sent += 1
    except ConnectionError:
        pass
    status = await asyncio.wait_for(answer, 10)
    elapsed = time.monotonic() - started
    writer.close()
    return status, elapsed, sent


def recorded(project: Path) -> list[dict[str, object]]:
    with sqlite3.connect(project / ".flux" / "recorder.db") as db:
        return [json.loads(row[0]) for row in db.execute("SELECT record FROM executions")]


def records_of(project: Path, path: str, status: str) -> list[dict[str, object]]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = [r for r in recorded(project) if r["path"] == path and r["status"] == status]
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"no {status} record of {path}")


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> ServeProcess:
    shop = copy_shop(tmp_path_factory.mktemp("limits"))
    (shop / "functions" / "take.py").write_text(
        "async def handler(req, ctx):\n    body = await req.json()\n    return {'n': len(body)}\n"
    )
    (shop / ".env").write_text("FLUX_SERVER_HEADER_TIMEOUT=1\nFLUX_SERVER_BODY_TIMEOUT=1\n")
    with ServeProcess(shop, command="dev") as running:
        yield running


async def test_a_200_mb_body_is_refused_fast_and_never_held(dev: ServeProcess) -> None:
    assert dev.process is not None
    before = rss_mb(dev.process.pid)
    status, seconds, sent = await stream_body(dev.url, "/take", 200)
    after = rss_mb(dev.process.pid)
    assert status.startswith(b"HTTP/1.1 413"), status
    assert seconds < 1.0
    assert sent < 200
    assert after - before < 64, (before, after)
    record = records_of(dev.project, "/take", "413")[0]
    assert record["error"]["type"] == "BodyTooLarge"  # type: ignore[index]
    assert "max_body" in record["error"]["message"]  # type: ignore[index]


async def test_a_declared_length_over_the_limit_is_refused_before_reading(
    dev: ServeProcess,
) -> None:
    reader, writer = await _open(dev.url)
    writer.write(b"POST /take HTTP/1.1\r\nhost: x\r\ncontent-length: 999999999\r\n\r\n")
    await writer.drain()
    status = await asyncio.wait_for(reader.readline(), 5)
    headers = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)).decode().lower()
    writer.close()
    assert status.startswith(b"HTTP/1.1 413")
    assert "x-flux-request-id" in headers


async def test_a_5_mb_json_body_is_recorded_once_under_the_cap(dev: ServeProcess) -> None:
    import httpx

    body = json.dumps([f"item-{i:06d}" for i in range(330_000)]).encode()
    assert 4_000_000 < len(body) < 6_000_000
    async with httpx.AsyncClient(base_url=dev.url, timeout=30) as client:
        r = await client.post("/take", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 200 and r.json() == {"n": 330_000}
    record = records_of(dev.project, "/take", "200")[0]
    size = len(json.dumps(record))
    assert size < 64 * 1024 + 16 * 1024, size
    assert record["request"]["body"].endswith(f"…[cut: {len(body):,} bytes]")  # type: ignore[index]
    function = next(s for s in record["spans"] if s["name"] == "function")  # type: ignore[union-attr]
    assert function["input"] is None and function["attributes"]["flux.input.request_body"]


async def test_headers_that_never_finish_are_cut_off(dev: ServeProcess) -> None:
    reader, writer = await _open(dev.url)
    writer.write(b"POST /take HTTP/1.1\r\nhost: x\r\n")  # and never the blank line
    await writer.drain()
    started = time.monotonic()
    closed = await asyncio.wait_for(reader.read(), 5)
    assert closed == b""
    assert time.monotonic() - started < 3
    writer.close()


async def test_a_stalled_body_is_a_408(dev: ServeProcess) -> None:
    reader, writer = await _open(dev.url)
    writer.write(b'POST /take HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n{"a": ')
    await writer.drain()
    status = await asyncio.wait_for(reader.readline(), 5)
    writer.close()
    assert status.startswith(b"HTTP/1.1 408"), status
