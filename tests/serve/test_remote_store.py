"""`RemoteStore` over a real `flux serve` admin API answers exactly as the local store does on
the same recorder (the file, or PostgreSQL): the same records, the same errors, plus a live
event stream for tail."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from flux_lsp.encode import to_json
from flux_lsp.model import Execution
from flux_lsp.project import Project
from flux_lsp.recorder.open_store import open_store
from flux_lsp.recorder.query import ExecutionQuery, MutationQuery, QueryError
from flux_lsp.recorder.remote_store import RemoteAuthError, RemoteStore
from flux_lsp.recorder.store import AmbiguousExecution, RecorderMissing, Store, UnknownExecution
from flux_lsp.runtime.gateway import create_app
from flux_lsp.runtime.recording import NullRecorder
from flux_lsp.runtime.runtime import Runtime
from flux_lsp.serve.admin import AdminAPI
from tests.cli.incident import Incident, record_incident
from tests.harness import free_port, serve_on_loopback
from tests.recorders import recorder_database, write_executions
from tests.serve.helpers import TOKEN


@contextlib.asynccontextmanager
async def admin_server(project: Path, token: str | None = TOKEN) -> AsyncIterator[str]:
    """The admin API of `flux serve` for `project`, under uvicorn on loopback."""
    loaded = Project.load(project)
    runtime = Runtime(loaded, NullRecorder())
    admin = AdminAPI(runtime, loaded, token)
    app = create_app(runtime, admin.routes(), on_shutdown=admin.on_shutdown())
    async with serve_on_loopback(app) as url:
        yield url


@pytest.fixture
async def incident(tmp_path: Path, backend_server: str | None) -> AsyncIterator[Incident]:
    with recorder_database(backend_server) as url:
        yield await record_incident(tmp_path, recorder_url=url)


@pytest.fixture
async def stores(incident: Incident) -> AsyncIterator[tuple[Store, RemoteStore]]:
    async with admin_server(incident.project) as url:
        local = await open_store(incident.recorder)
        remote = await RemoteStore.open(url, token=TOKEN)
        try:
            yield local, remote
        finally:
            await remote.close()
            await local.close()


def dicts(executions: list[Execution]) -> list[dict[str, object]]:
    return [to_json(e) for e in executions]


async def test_every_query_answers_as_the_local_file(
    stores: tuple[Store, RemoteStore], incident: Incident
) -> None:
    local, remote = stores
    everything = await local.executions(ExecutionQuery(limit=None))
    assert len(everything) >= 10
    queries = [
        ExecutionQuery(),
        ExecutionQuery(limit=None, newest_first=False),
        ExecutionQuery(limit=3),
        ExecutionQuery(status="5xx"),
        ExecutionQuery(status="failed"),
        ExecutionQuery(status="201"),
        ExecutionQuery(kind="job"),
        ExecutionQuery(function="stripe_webhook", path="/stripe_webhook"),
        ExecutionQuery(parent_id=incident.signup),
        ExecutionQuery(error_file="functions/stripe_webhook.py"),
        ExecutionQuery(since=everything[3].started_at, until=everything[1].started_at),
    ]
    for query in queries:
        assert dicts(await remote.executions(query)) == dicts(await local.executions(query)), query
        streamed = [e async for e in remote.stream(query)]
        assert dicts(streamed) == dicts([e async for e in local.stream(query)]), query

    failed = incident.failed_webhook
    for ident in (failed, failed[:8], f"req:{failed[:8].upper()}"):
        assert to_json(await remote.get(ident)) == to_json(await local.get(ident))

    for kwargs in (
        {},
        {"table": "subscriptions"},
        {"table": "users", "limit": 2},
        {"execution_id": incident.created_user},
        {"since": everything[5].started_at, "until": everything[0].started_at + 1},
    ):
        query = MutationQuery(**kwargs)  # type: ignore[arg-type]
        assert await remote.mutations(query) == await local.mutations(query), kwargs

    record = await local.get(incident.failed_webhook)
    site = next(s for s in record.spans if s.file and s.line and s.name != "function")
    assert site.file is not None and site.line is not None
    local_sites = await local.call_sites(site.file, site.line)
    assert local_sites
    assert await remote.call_sites(site.file, site.line) == local_sites
    assert await remote.call_sites(site.file, site.line, since=1e12) == []

    for name in ("stripe_webhook", "create_user", "nothing_here"):
        assert dicts(await remote.function_stats(name)) == dicts(await local.function_stats(name))
    assert dicts(await remote.function_stats("create_user", limit=2)) == dicts(
        await local.function_stats("create_user", limit=2)
    )

    local_stats, remote_stats = await local.stats(), await remote.stats()
    assert remote_stats.location == remote.url
    assert asdict(replace(remote_stats, location="")) == asdict(
        replace(local_stats, location="", size_bytes=remote_stats.size_bytes)
    )


async def test_errors_are_the_local_errors(
    stores: tuple[Store, RemoteStore], incident: Incident
) -> None:
    local, remote = stores
    for ident in ("ffffffffffffffff", "req:zz", "not an id", "../etc"):
        with pytest.raises(UnknownExecution) as remote_error:
            await remote.get(ident)
        with pytest.raises(UnknownExecution) as local_error:
            await local.get(ident)
        assert str(remote_error.value) == str(local_error.value)

    ids = [e.id for e in await local.executions(ExecutionQuery(limit=None))]
    prefix = next(p for p in "0123456789abcdef" if sum(i.startswith(p) for i in ids) > 1)
    with pytest.raises(AmbiguousExecution) as remote_ambiguous:
        await remote.get(prefix)
    with pytest.raises(AmbiguousExecution) as local_ambiguous:
        await local.get(prefix)
    assert str(remote_ambiguous.value) == str(local_ambiguous.value)
    assert remote_ambiguous.value.candidates == local_ambiguous.value.candidates

    with pytest.raises(QueryError, match="bad status"):
        await remote.executions(ExecutionQuery(status="teapot"))


async def test_change_token_and_follow_see_new_records(
    stores: tuple[Store, RemoteStore], incident: Incident
) -> None:
    local, remote = stores
    template = await local.get(incident.created_user)
    before = await remote.change_token()

    seen: list[Execution] = []

    async def follow() -> None:
        async for execution in remote.follow(ExecutionQuery(function="create_user")):
            seen.append(execution)
            if len(seen) == 2:
                return

    task = asyncio.create_task(follow())
    await asyncio.sleep(0.3)
    now = template.started_at + 10_000
    fresh = [replace(template, id=f"{n:016x}", started_at=now + n, mutations=[]) for n in (1, 2)]
    other = replace(template, id=f"{3:016x}", function="signup", started_at=now, mutations=[])
    write_executions(incident.recorder, [other, *fresh])
    await asyncio.wait_for(task, timeout=10)
    assert [e.id for e in seen] == [e.id for e in fresh]
    assert await remote.change_token() != before


async def test_opening_fails_clearly(incident: Incident, tmp_path: Path) -> None:
    async with admin_server(incident.project) as url:
        with pytest.raises(RemoteAuthError, match="refused the token"):
            await RemoteStore.open(url, token="wrong")
        with pytest.raises(RemoteAuthError, match="refused the token"):
            await RemoteStore.open(url, token="")
    async with admin_server(incident.project, token=None) as url:
        with pytest.raises(RecorderMissing, match="the admin API is off"):
            await RemoteStore.open(url, token=TOKEN)
    with pytest.raises(RecorderMissing, match="cannot reach the Flux server"):
        await RemoteStore.open(f"http://127.0.0.1:{free_port()}", token=TOKEN)

    empty = tmp_path / "empty"
    (empty / "functions").mkdir(parents=True)
    async with admin_server(empty) as url:
        with pytest.raises(RecorderMissing, match="no recorder at"):
            await RemoteStore.open(url + "/_flux/", token=TOKEN)


def test_wire_rejects_a_corrupt_file_as_the_local_store_does(tmp_path: Path) -> None:
    bad = tmp_path / "bad.db"
    conn = sqlite3.connect(bad)
    conn.execute("CREATE TABLE other (x)")
    conn.close()
    from flux_lsp.recorder.remote_store import error_payload, raise_payload
    from flux_lsp.recorder.sqlite_store import check_recorder_file
    from flux_lsp.recorder.store import RecorderCorrupt

    with pytest.raises(RecorderCorrupt) as local_error:
        check_recorder_file(bad)
    with pytest.raises(RecorderCorrupt) as remote_error:
        raise_payload(error_payload(local_error.value))
    assert str(remote_error.value) == str(local_error.value)


def test_every_recorder_error_crosses_the_wire_as_its_own_class() -> None:
    """What a server's store raises, its remote client raises again: same class, same words."""
    from flux_lsp.recorder.remote_store import error_payload, raise_payload
    from flux_lsp.recorder.store import (
        RecorderCorrupt,
        RecorderMissing,
        RecorderTooNew,
        RecorderUnreachable,
    )

    for cls in (RecorderMissing, RecorderUnreachable, RecorderCorrupt, RecorderTooNew):
        with pytest.raises(cls) as raised:
            raise_payload(error_payload(cls(f"{cls.__name__}: one line")))
        assert type(raised.value) is cls and str(raised.value) == f"{cls.__name__}: one line"
