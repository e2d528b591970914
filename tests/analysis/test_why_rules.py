"""Root-cause rules over real recordings: outbound failures, timeouts, the mutation log."""

from __future__ import annotations

import asyncio
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from flux_lsp.analysis.execution_summary import summarize
from flux_lsp.analysis.why import created_later, explain, why_report
from flux_lsp.encode import to_json
from flux_lsp.model import Execution
from tests.cli.incident import Incident
from tests.harness import FluxApp, serve_on_loopback, write_function

CHARGE = """\
async def handler(req, ctx):
    body = await req.json()
    r = await ctx.http.post(body["url"], json={"amount": body["amount"]})
    r.raise_for_status()
    return {"charged": body["amount"]}
"""

LOOKUP = """\
async def handler(req, ctx):
    body = await req.json()
    r = await ctx.http.get(body["url"], timeout=0.2)
    return r.json()
"""

ACTIVATE = """\
async def handler(req, ctx):
    body = await req.json()
    await ctx.db.update(
        "subscriptions", {"customer_id": body["customer_id"]}, {"status": "active"}
    )
    return {"ok": True}
"""

QUIET = """\
async def handler(req, ctx):
    body = await req.json()
    await ctx.db.update(
        "subscriptions", {"customer_id": body["customer_id"]}, {"status": "active"},
        missing_ok=True,
    )
    return {"ok": True}
"""


def payments_app() -> Starlette:
    async def charge(request: Request) -> JSONResponse:
        return JSONResponse({"error": "card processor unavailable"}, status_code=503)

    async def slow(request: Request) -> JSONResponse:
        await asyncio.sleep(1)
        return JSONResponse({})

    return Starlette(routes=[Route("/charge", charge, methods=["POST"]), Route("/slow", slow)])


async def _run(flux: FluxApp, path: str, body: dict[str, object]) -> Execution:
    r = await flux.client.post(path, json=body)
    [e] = await flux.recorded(r.headers["x-flux-request-id"])
    return e


async def test_failed_outbound_call_and_timeout(shop: Path) -> None:
    write_function(shop, "charge", CHARGE)
    write_function(shop, "lookup", LOOKUP)
    async with serve_on_loopback(payments_app()) as base, FluxApp(shop) as flux:
        charge = await _run(flux, "/charge", {"url": f"{base}/charge", "amount": 4900})
        lookup = await _run(flux, "/lookup", {"url": f"{base}/slow"})
    report = why_report(charge)
    assert report.root_cause.rule == "outbound_call"
    assert report.root_cause.summary == f"Outbound call failed: POST {base}/charge answered 503"
    assert report.root_cause.details[0].startswith("HTTPStatusError: ")
    assert report.suggestions[0].startswith("→ 127.0.0.1 failed: retry with backoff")
    assert report.location is not None and report.location.label == "charge.py:4"
    assert report.input.values == {"url": f"{base}/charge", "amount": 4900}
    report = why_report(lookup)
    assert report.root_cause.rule == "timeout"
    assert report.root_cause.summary.startswith(f"Timeout (GET {base}/slow)")
    assert report.suggestions[0].startswith("→ The call did not answer in time")


async def test_row_not_found_created_later_by_another_execution(shop: Path) -> None:
    write_function(shop, "activate", ACTIVATE)
    async with FluxApp(shop) as flux:
        failed = await _run(flux, "/activate", {"customer_id": "cus_Z"})
        await _run(flux, "/confirm_email", {"customer_id": "cus_OTHER"})
        await asyncio.sleep(0.02)
        creator = await _run(flux, "/confirm_email", {"customer_id": "cus_Z"})
        await _run(flux, "/activate", {"customer_id": "cus_Z"})
        store = await flux.store()
        try:
            related = await created_later(store, failed)
            report = await explain(store, failed)
        finally:
            await store.close()
    [r] = related
    assert (r.execution_id, r.function, r.table) == (creator.id, "confirm_email", "subscriptions")
    assert r.where == {"customer_id": "cus_Z"}
    assert r.delay_seconds >= 0.02
    assert report.root_cause.rule == "row_not_found"
    assert report.root_cause.summary == "Row not found: subscriptions WHERE customer_id = 'cus_Z'"
    assert report.location is not None and report.location.label == "activate.py:3"
    assert report.suggestions[0] == "→ Customer row does not exist at activate time"
    assert report.suggestions[1].startswith("confirm_email creates it ")


async def test_row_never_created_suggests_checking_the_order(shop: Path) -> None:
    write_function(shop, "activate", ACTIVATE)
    async with FluxApp(shop) as flux:
        failed = await _run(flux, "/activate", {"customer_id": "cus_NEVER"})
        store = await flux.store()
        try:
            report = await explain(store, failed)
        finally:
            await store.close()
    assert report.related == []
    assert report.suggestions == [
        "→ Customer row does not exist at activate time",
        "Check that the subscriptions row is created before activate runs",
    ]


async def test_silent_zero_row_update_is_reported(shop: Path) -> None:
    write_function(shop, "quiet", QUIET)
    async with FluxApp(shop) as flux:
        e = await _run(flux, "/quiet", {"customer_id": "cus_Q"})
    assert e.status == "200"
    report = why_report(e)
    assert report.root_cause.rule == "no_rows_changed"
    assert report.root_cause.summary == (
        "No error, but update of subscriptions matched no row (customer_id = 'cus_Q')"
    )
    assert [d.text for d in report.data_changes] == ["subscriptions  UPDATE  0 rows affected"]
    assert report.location is not None and report.location.label == "quiet.py:3"


def test_report_document_is_json_ready(incident: Incident) -> None:
    import json

    async def load() -> Execution:
        from flux_lsp.recorder.open_store import open_store

        async with await open_store(incident.recorder) as store:
            return await store.get(incident.validation_error)

    e = asyncio.run(load())
    doc = to_json(why_report(e))
    assert json.loads(json.dumps(doc)) == doc
    assert doc["input"]["missing"] == ["email"]
    header = to_json(summarize(e))
    assert set(doc) == set(header) | {
        "root_cause", "location", "input", "data_changes", "related", "suggestions", "sections",
    }  # fmt: skip
    assert {k: doc[k] for k in header} == header
