"""The outcomes a replay reports besides pass and fail: unanswered HTTP, deleted functions, none."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from flux_lsp.encode import to_json
from flux_lsp.project import Project
from flux_lsp.recorder.sqlite_store import SQLiteStore
from flux_lsp.replay.engine import replay_window
from flux_lsp.replay.report import (
    FUNCTION_MISSING,
    NO_RECORDED_RESPONSE,
    PASSING,
    ReplayOutcome,
    ReplayReport,
)
from flux_lsp.runtime.recording import NullRecorder
from tests.harness import FluxApp, serve_on_loopback, write_function
from tests.replay.helpers import no_network

pytestmark = pytest.mark.usefixtures("backend")  # on SQLite and PostgreSQL


RATES = """\
async def handler(req, ctx):
    body = await req.json()
    answer = await ctx.http.get(body["url"], params={"currency": body["currency"]})
    return {"rate": answer.json()["rate"], "at": ctx.now().isoformat()}
"""


def rates_app() -> Starlette:
    async def rate(request: Request) -> JSONResponse:
        return JSONResponse({"rate": 1.25 if request.query_params["currency"] == "EUR" else 2.0})

    return Starlette(routes=[Route("/rate", rate)])


async def replay(shop: Path, since: float, **options: object) -> ReplayReport:
    project = Project.load(shop)
    store = await SQLiteStore.open(project.recorder_path)
    try:
        return await replay_window(
            project, store, since, time.time() + 1, recorder=NullRecorder(), **options
        )  # type: ignore[arg-type]
    finally:
        await store.close()


async def record_rates(shop: Path) -> tuple[float, list[str]]:
    write_function(shop, "rates", RATES)
    since = time.time()
    ids = []
    async with serve_on_loopback(rates_app()) as base, FluxApp(shop) as flux:
        for currency in ("EUR", "GBP"):
            r = await flux.client.post("/rates", json={"url": f"{base}/rate", "currency": currency})
            assert r.status_code == 200
            ids.append(r.headers["x-flux-request-id"])
        flux.flush()
    return since, ids


async def test_outbound_http_is_answered_from_the_recording(shop: Path) -> None:
    since, ids = await record_rates(shop)

    # The rate server is gone and no socket may open: the answers come from the recording.
    with no_network() as attempts:
        report = await replay(shop, since)

    assert attempts == []
    assert [(o.original_id, o.outcome, o.status) for o in report.outcomes] == [
        (ids[0], PASSING, "200"),
        (ids[1], PASSING, "200"),
    ]
    assert report.resolved


async def test_a_call_the_recording_does_not_hold_is_its_own_outcome(shop: Path) -> None:
    since, _ = await record_rates(shop)
    changed = RATES.replace('params={"currency": body["currency"]}', 'params={"cur": "EUR"}')
    write_function(shop, "rates", changed)

    with no_network() as attempts:
        report = await replay(shop, since)

    assert attempts == []
    first = report.outcomes[0]
    assert first.outcome == NO_RECORDED_RESPONSE and not first.passed
    assert first.unanswered is not None and first.unanswered.startswith("GET http://127.0.0.1:")
    assert first.unanswered.endswith("/rate?cur=EUR")
    assert first.detail == f"No recorded response for {first.unanswered}"
    assert first.error_type == "NoRecordedResponse"
    assert report.summary.no_recorded_response == 2 and not report.ok
    assert "2 with no recorded response" in report.summary_line


async def test_a_caught_unanswered_call_is_not_a_silent_pass(shop: Path) -> None:
    since, _ = await record_rates(shop)
    write_function(
        shop,
        "rates",
        """\
async def handler(req, ctx):
    try:
        await ctx.http.get("http://127.0.0.1:9/elsewhere")
    except Exception:
        pass
    return {"ok": True}
""",
    )
    report = await replay(shop, since)
    assert [o.outcome for o in report.outcomes] == [NO_RECORDED_RESPONSE] * 2
    assert report.outcomes[0].status == "200"


async def test_a_deleted_function_is_reported_as_such(shop: Path) -> None:
    since = time.time()
    async with FluxApp(shop) as flux:
        r = await flux.client.post("/create_user", json={"email": "a@x.com", "name": "A"})
        assert r.status_code == 201
        flux.flush()
    (shop / "functions" / "create_user.py").unlink()

    report = await replay(shop, since)

    [outcome] = report.outcomes
    assert outcome.outcome == FUNCTION_MISSING and outcome.status is None
    assert outcome.error == "function no longer exists: create_user"
    assert outcome.detail == "Function no longer exists: create_user"
    assert to_json(outcome)["outcome"] == "function_missing"
    assert not report.ok and "1 no longer exist" in report.summary_line


async def test_an_empty_window_says_so(shop: Path) -> None:
    since = time.time()
    async with FluxApp(shop) as flux:
        flux.flush()
    report = await replay(shop, since)
    assert report.empty and report.ok and not report.resolved
    assert report.verdict == "nothing to replay"
    assert report.empty_message.startswith("No recorded requests from ")
    assert to_json(report)["outcomes"] == []


async def test_progress_and_cancel(shop: Path) -> None:
    since = time.time()
    async with FluxApp(shop) as flux:
        for n in range(5):
            await flux.client.post("/create_user", json={"email": f"u{n}@x.com"})
        flux.flush()
    cancel = asyncio.Event()
    seen: list[int] = []

    def progress(outcome: ReplayOutcome, done: int) -> None:
        seen.append(done)
        if done == 2:
            cancel.set()

    report = await replay(shop, since, progress=progress, cancel=cancel)
    assert seen == [1, 2] and report.cancelled and not report.ok
    assert report.summary.replayed == 2 and report.verdict == "✗ cancelled"
