"""Swapping code under load: a request in flight finishes on the version it started with (and
records that version), the next one runs the new; bundles are reproducible and diffed by file."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from flux_lsp.bundle import build_bundle, diff_manifests, manifest, project_files
from flux_lsp.encode import to_json
from flux_lsp.project import Project
from flux_lsp.recorder.query import ExecutionQuery
from flux_lsp.serve.admin import AdminAPI
from tests.gate import HANDLER_WAITS, gate
from tests.harness import FluxApp, write_function
from tests.serve.helpers import TOKEN, bundle_of

SLOW = (
    HANDLER_WAITS
    + """

async def handler(req, ctx):
    await wait_at_gate("swap")
    return {{"version": "{version}"}}
"""
)


async def test_in_flight_requests_finish_on_the_old_version(tmp_path: Path) -> None:
    served = tmp_path / "served"
    write_function(served, "slow", SLOW.format(version="old"))
    release = tmp_path / "release"
    write_function(release, "slow", SLOW.format(version="new"))

    async with FluxApp(served) as flux:
        admin = AdminAPI(flux.runtime, flux.project, TOKEN)
        old_version = flux.runtime.code_version
        swap = gate("swap")
        in_flight = asyncio.create_task(flux.client.post("/slow"))
        await swap.wait_entered()  # the old handler is inside, waiting
        result = await admin.deployer.deploy(bundle_of(release))
        assert flux.runtime.code_version == result.deployment.code_version != old_version
        swap.release.set()
        after = await flux.client.post("/slow")
        before = await in_flight

        assert before.json() == {"version": "old"}
        assert after.json() == {"version": "new"}
        store = await flux.store()
        try:
            records = {e.id: e for e in await store.executions(ExecutionQuery(function="slow"))}
        finally:
            await store.close()
        assert records[before.headers["x-flux-request-id"]].code_version == old_version
        assert records[after.headers["x-flux-request-id"]].code_version == (
            result.deployment.code_version
        )
        # the function's location is relative to the deployment, as in the project
        new_record = records[after.headers["x-flux-request-id"]]
        function_span = next(s for s in new_record.spans if s.name == "function")
        assert function_span.file == "functions/slow.py"


async def test_deploy_over_http_in_process(tmp_path: Path) -> None:
    served = tmp_path / "served"
    write_function(served, "hello", "async def handler(req, ctx):\n    return 'v1'\n")
    release = tmp_path / "release"
    write_function(release, "hello", "async def handler(req, ctx):\n    return 'v2'\n")
    write_function(release, "extra", "async def handler(req, ctx):\n    return 'x'\n")
    (release / "migrations").mkdir()
    (release / "migrations" / "001_notes.sql").write_text("CREATE TABLE notes (id TEXT);\n")

    async with FluxApp(served) as flux:
        admin = AdminAPI(flux.runtime, flux.project, TOKEN)
        from flux_lsp.runtime.gateway import create_app

        app = create_app(flux.runtime, admin.routes())
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://flux.test",
            headers={"authorization": f"Bearer {TOKEN}"},
        ) as client:
            r = await client.post("/_flux/deploy", content=bundle_of(release))
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["changes"] == {
                "added": ["functions/extra.py", "migrations/001_notes.sql"],
                "changed": ["functions/hello.py"],
                "removed": [],
            }
            assert body["migrations_applied"] == ["001_notes.sql"]
            assert (await client.post("/hello")).text == "v2"
            assert "notes" in await flux.runtime.database.tables()
            status = (await client.get("/_flux/deployments")).json()
            assert status["active"] == body["id"]
            assert status["code_version"] == body["code_version"]


def test_bundles_are_reproducible_and_skip_caches(tmp_path: Path) -> None:
    project = tmp_path / "p"
    write_function(project, "a", "async def handler(req, ctx):\n    return 1\n")
    (project / "functions" / "__pycache__").mkdir()
    (project / "functions" / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"\0")
    (project / "functions" / ".a.py.swp").write_bytes(b"\0")
    (project / "templates" / "mail").mkdir(parents=True)
    (project / "templates" / "mail" / "hi.txt").write_text("hi")
    (project / "flux.toml").write_text("[queue]\nmax_attempts = 2\n")
    (project / "notes.md").write_text("not shipped")

    files = project_files(Project.load(project))
    assert list(files) == ["flux.toml", "functions/a.py", "templates/mail/hi.txt"]
    assert build_bundle(files) == bundle_of(project)

    old = manifest(files)
    (project / "functions" / "a.py").write_text("async def handler(req, ctx):\n    return 2\n")
    (project / "templates" / "mail" / "hi.txt").unlink()
    write_function(project, "b", "async def handler(req, ctx):\n    return 3\n")
    changes = diff_manifests(old, manifest(project_files(Project.load(project))))
    assert to_json(changes) == {
        "added": ["functions/b.py"],
        "changed": ["functions/a.py"],
        "removed": ["templates/mail/hi.txt"],
    }


async def test_old_and_rolled_back_deployments_are_pruned(tmp_path: Path) -> None:
    served = tmp_path / "served"
    write_function(served, "hello", "async def handler(req, ctx):\n    return 'v0'\n")
    async with FluxApp(served) as flux:
        admin = AdminAPI(flux.runtime, flux.project, TOKEN)
        store = admin.deployer.store
        ids = []
        for n in range(1, 4):
            release = tmp_path / f"v{n}"
            write_function(release, "hello", f"async def handler(req, ctx):\n    return 'v{n}'\n")
            ids.append((await admin.deployer.deploy(bundle_of(release))).deployment.id)
        (store.root / "0badf00d").mkdir()  # half-written by a crash: no deployment.json
        assert store.history() == ids

        rolled = await admin.deployer.rollback()
        assert rolled.deployment.id == ids[1] and rolled.rolled_back_from == ids[2]
        assert (await flux.client.post("/hello")).text == "v2"
        # the swapped-out folder stays until the next prune; the crash leftover is gone
        assert {p.name for p in store.root.iterdir() if p.is_dir()} == set(ids)

        store.prune(keep=1)
        assert store.history() == [ids[1]]
        assert {p.name for p in store.root.iterdir() if p.is_dir()} == {ids[1]}
        assert (await flux.client.post("/hello")).text == "v2"
