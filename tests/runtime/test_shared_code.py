"""Functions, jobs and shared code: what is routed, what can be enqueued, and `lib/` imports.

A job (`handler(job, ctx)`) and a `functions/_helper.py` are not HTTP routes; a function
imports `lib/pricing.py` and a `_helper`, over the real gateway, in replay and in a deploy
bundle; a change to `lib/` is picked up on reload; errors in shared code point at its line.
"""

from __future__ import annotations

from pathlib import Path

from flux_lsp.bundle import project_files
from flux_lsp.project import Project
from flux_lsp.recorder.sqlite_store import SQLiteStore
from flux_lsp.replay.engine import replay_one
from flux_lsp.runtime.catalog import load_catalog
from flux_lsp.runtime.functions import FunctionRegistry
from tests.harness import FluxApp, NoWorker, write_function

CHECKOUT = """\
from lib.pricing import total
from _money import cents


async def handler(req, ctx):
    body = await req.json()
    return {"total": cents(total(body["items"]))}
"""

PRICING_V1 = """\
def total(items):
    return sum(item["price"] * item["qty"] for item in items)
"""

PRICING_V2 = """\
def total(items):
    return 2 * sum(item["price"] * item["qty"] for item in items)
"""

MONEY = """\
def cents(amount):
    return round(amount * 100)
"""

INDEX_NOTE = """\
async def handler(job, ctx):
    return {"indexed": job.data}
"""

ITEMS = {"items": [{"price": 1.5, "qty": 2}, {"price": 0.25, "qty": 4}]}


def shared_project(shop: Path) -> Path:
    (shop / "lib").mkdir()
    (shop / "lib" / "pricing.py").write_text(PRICING_V1)
    write_function(shop, "_money", MONEY)
    write_function(shop, "checkout", CHECKOUT)
    write_function(shop, "index_note", INDEX_NOTE)
    return shop


async def test_jobs_and_helpers_are_not_routes(shop: Path) -> None:
    shared_project(shop)
    async with NoWorker(shop) as flux:
        job = await flux.client.post("/index_note", json={})
        helper = await flux.client.post("/_money", json={})
        missing = await flux.client.post("/nope", json={})
    assert job.status_code == 404
    assert "'index_note' is a job" in job.json()["error"]
    assert helper.status_code == 404 and missing.status_code == 404
    for response in (job, helper, missing):
        assert response.headers["x-flux-request-id"] == response.json()["request_id"]


async def test_a_function_imports_lib_and_a_helper(shop: Path) -> None:
    shared_project(shop)
    async with FluxApp(shop, check_mtime=True) as flux:
        first = await flux.client.post("/checkout", json=ITEMS)
        (shop / "lib" / "pricing.py").write_text(PRICING_V2)
        await flux.runtime.reload()  # what the dev watcher does on a change under lib/
        second = await flux.client.post("/checkout", json=ITEMS)
    assert first.json() == {"total": 400}
    assert second.json() == {"total": 800}


async def test_a_failure_in_lib_points_at_its_line(shop: Path) -> None:
    shared_project(shop)
    async with FluxApp(shop) as flux:
        r = await flux.client.post("/checkout", json={"items": [{"price": 1}]})
        [execution] = await flux.recorded(r.headers["x-flux-request-id"])
    assert r.status_code == 500
    assert execution.error is not None and execution.error.location is not None
    assert (execution.error.location.file, execution.error.location.line) == ("lib/pricing.py", 2)
    files = [f.file for f in execution.error.frames]
    assert files[0] == "functions/checkout.py" and set(files[1:]) == {"lib/pricing.py"}


async def test_replay_and_the_bundle_carry_the_shared_code(shop: Path) -> None:
    shared_project(shop)
    async with FluxApp(shop) as flux:
        r = await flux.client.post("/checkout", json=ITEMS)
    project = Project.load(shop)
    store = await SQLiteStore.open(project.recorder_path)
    try:
        report = await replay_one(project, store, r.headers["x-flux-request-id"])
    finally:
        await store.close()
    [outcome] = report.outcomes
    assert report.ok and (outcome.outcome, outcome.status, outcome.error) == (
        "passing",
        "200",
        None,
    )
    shipped = project_files(project)
    assert {"lib/pricing.py", "functions/_money.py", "functions/checkout.py"} <= set(shipped)


def test_the_catalog_lists_routes_triggers_and_problems(shop: Path) -> None:
    shared_project(shop)
    write_function(shop, "broken", "async def handler(req, ctx)\n    return 1\n")
    write_function(shop, "sync", "import os\n\n\ndef handler(req, ctx):\n    return 1\n")
    write_function(shop, "bad_import", "\nfrom lib.nothing import x\n")
    (shop / "functions" / "admin").mkdir()
    write_function(shop, "admin/users", INDEX_NOTE)
    project = Project.load(shop)
    catalog = load_catalog(FunctionRegistry(project.functions_dir, project_root=project.root))
    by_name = {f.name: f for f in catalog.functions}
    assert "_money" not in by_name
    checkout, job = by_name["checkout"], by_name["index_note"]
    assert (checkout.kind, checkout.route, checkout.trigger, checkout.loads) == (
        "http",
        "/checkout",
        None,
        True,
    )
    assert (checkout.file, checkout.line) == ("functions/checkout.py", 5)
    assert (job.kind, job.route, job.trigger) == ("job", None, "queue")
    assert [str(p) for p in catalog.problems] == [
        "functions/bad_import.py:2: import failed: ModuleNotFoundError: "
        "No module named 'lib.nothing'",
        "functions/broken.py:1: syntax error: expected ':'",
        "functions/sync.py:4: `handler` must be async: write `async def handler(req, ctx)` "
        "(or `handler(job, ctx)` for a job)",
    ]
    assert by_name["sync"].kind == "http" and not by_name["sync"].loads
    assert catalog.broken == ["bad_import", "broken", "sync"]
    assert [n.split(":")[0] for n in catalog.notes] == ["functions/admin/"]
