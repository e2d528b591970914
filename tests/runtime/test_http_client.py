"""ctx.http: real outbound calls recorded as http.request spans, answered from them on replay."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from flux_lsp.model import Execution, Span
from flux_lsp.runtime.http_client import HttpService, NoRecordedResponse
from flux_lsp.runtime.inflight import Trace
from tests.harness import NoWorker, free_port, serve_on_loopback, write_function

FETCH = """\
async def handler(req, ctx):
    base = (await req.json())["url"]
    auth = {"Authorization": "Bearer s3cret"}
    first = await ctx.http.get(base + "/count", params={"api_key": "k1", "q": "x"}, headers=auth)
    second = await ctx.http.get(base + "/count", params={"api_key": "k1", "q": "x"}, headers=auth)
    posted = await ctx.http.post(base + "/echo", json={"amount": 4900})
    return {"first": first.json(), "second": second.json(), "echo": posted.json()}
"""

UNREACHABLE = """\
async def handler(req, ctx):
    await ctx.http.get((await req.json())["url"])
"""


def upstream() -> Starlette:
    hits = {"n": 0}

    async def count(request: Request) -> Response:
        hits["n"] += 1
        return JSONResponse({"n": hits["n"], "auth": request.headers.get("authorization")})

    async def echo(request: Request) -> Response:
        return JSONResponse({"got": await request.json()}, status_code=201)

    return Starlette(routes=[Route("/count", count), Route("/echo", echo, methods=["POST"])])


async def run_fetch(shop: Path) -> tuple[dict[str, Any], Execution, str]:
    write_function(shop, "fetch", FETCH)
    async with serve_on_loopback(upstream()) as base, NoWorker(shop) as flux:
        r = await flux.client.post("/fetch", json={"url": base})
        assert r.status_code == 200, r.text
        [e] = await flux.recorded(r.headers["x-flux-request-id"])
    return r.json(), e, base


async def test_calls_are_real_and_recorded_with_otel_names(shop: Path) -> None:
    body, e, base = await run_fetch(shop)
    assert body == {
        "first": {"n": 1, "auth": "Bearer s3cret"},
        "second": {"n": 2, "auth": "Bearer s3cret"},
        "echo": {"got": {"amount": 4900}},
    }
    spans = [s for s in e.spans if s.name == "http.request"]
    assert len(spans) == 3
    get, _, post = spans
    assert get.attributes["http.request.method"] == "GET"
    assert get.attributes["url.full"] == f"{base}/count?api_key=%5Bredacted%5D&q=x"
    assert get.attributes["http.response.status_code"] == 200
    assert get.attributes["server.address"] == "127.0.0.1"
    assert get.input["headers"]["authorization"] == "[redacted]"
    assert get.output["body"] == {"n": 1, "auth": "Bearer s3cret"}
    assert get.file == "functions/fetch.py" and get.line == 4 and get.duration_ms > 0
    assert post.input["body"] == {"amount": 4900}
    assert post.output["status_code"] == 201 and post.output["body"] == {"got": {"amount": 4900}}
    assert "s3cret" not in str(get.input)


async def test_unreachable_host_fails_the_call_and_the_span(shop: Path) -> None:
    write_function(shop, "unreachable", UNREACHABLE)
    async with NoWorker(shop) as flux:
        r = await flux.client.post("/unreachable", json={"url": f"http://127.0.0.1:{free_port()}/"})
        [e] = await flux.recorded(r.headers["x-flux-request-id"])
    assert r.status_code == 500 and e.error is not None and e.error.type == "ConnectError"
    [span] = [s for s in e.spans if s.name == "http.request"]
    assert span.status == "error" and span.output is None


async def test_replay_answers_from_the_recording_in_order(shop: Path) -> None:
    _, recorded, base = await run_fetch(shop)  # the upstream server is gone now
    trace = Trace("replay1", "/nowhere/", "/nowhere", recorded)
    async with NoWorker(shop) as flux:
        http = HttpService(flux.runtime, flux.runtime.code, trace)
        params = {"api_key": "k1", "q": "x"}
        first = await http.get(f"{base}/count", params=params)
        second = await http.get(f"{base}/count", params=params)
        posted = await http.post(f"{base}/echo", json={"amount": 4900})
        with pytest.raises(NoRecordedResponse) as info:
            await http.post(f"{base}/echo", json={"amount": 1})
    assert (first.json()["n"], second.json()["n"]) == (1, 2)
    assert (posted.status_code, posted.json()) == (201, {"got": {"amount": 4900}})
    assert posted.headers["content-type"] == "application/json"
    assert str(info.value) == f"no recorded response for POST {base}/echo"
    assert [s.attributes.get("flux.replay.recorded_span") for s in trace.spans[:3]] == [
        s.id for s in recorded.spans if s.name == "http.request"
    ]
    assert trace.spans[3].status == "error" and trace.spans[3].attributes["flux.replay.unmatched"]


async def test_replay_of_a_failed_call_fails_again(shop: Path) -> None:
    failed = Span(
        id=2, name="http.request", status="error", error="All connection attempts failed",
        input={"method": "GET", "url": "http://127.0.0.1:9/x", "body": None},
    )  # fmt: skip
    original = Execution(
        id="o", kind="http", function="f", method="POST", path="/f", status="500",
        started_at=0.0, duration_ms=1.0, spans=[failed],
    )  # fmt: skip
    trace = Trace("replay1", "/nowhere/", "/nowhere", original)
    async with NoWorker(shop) as flux:
        with pytest.raises(httpx.TransportError, match="All connection attempts failed"):
            await HttpService(flux.runtime, flux.runtime.code, trace).get("http://127.0.0.1:9/x")
