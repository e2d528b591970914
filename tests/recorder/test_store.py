"""The Store on every backend (a SQLite file, PostgreSQL): id prefixes, filters, paging,
mutations, call sites, and the same clear errors for recorders that are missing, unreachable,
not recorders, or newer than this Flux.

Each test also runs on both ways a store is read (`driver`): through an event loop, as the
language server and `flux serve` read it (aiosqlite, psycopg), and blocking, as a one-shot
command reads it (sqlite3 in the caller's thread, libpq for PostgreSQL).
"""

from __future__ import annotations

import functools
import sqlite3
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from flux_lsp.model import ErrorInfo, Execution, LogEntry, Mutation, Span
from flux_lsp.project import is_database_url
from flux_lsp.recorder import store as store_module
from flux_lsp.recorder.open_store import open_store
from flux_lsp.recorder.query import ExecutionQuery, MutationQuery
from flux_lsp.recorder.retention import DAY
from flux_lsp.recorder.schema import SCHEMA_VERSION
from flux_lsp.recorder.sqlite_store import SQLiteStore
from flux_lsp.recorder.store import (
    AmbiguousExecution,
    RecorderCorrupt,
    RecorderMissing,
    RecorderTooNew,
    UnknownExecution,
    mutation_pages,
)
from flux_lsp.recorder.writer import open_for_writing
from tests.harness import free_port
from tests.postgres import with_database
from tests.recorders import (
    make_newer,
    make_older,
    recorder_database,
    schema_version_of,
    write_executions,
)


def make(
    id_: str,
    status: str = "200",
    started: float = 1000.0,
    logs: list[LogEntry] | None = None,
    **kw: object,
) -> Execution:
    return Execution(
        id=id_,
        kind=str(kw.get("kind", "http")),
        function=str(kw.get("function", "create_user")),
        method="POST",
        path=f"/{kw.get('function', 'create_user')}",
        status=status,
        started_at=started,
        duration_ms=3.0,
        mutations=[Mutation(id_, 0, "users", "insert", "u_1", None, {"id": "u_1"}, 1, started)],
        logs=logs or [],
    )


@pytest.fixture(params=["event loop", "blocking"], autouse=True)
def driver(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """How this module's `open_store` reads: every test runs both ways."""
    if request.param == "blocking":
        blocking = functools.partial(open_store, blocking=True)
        monkeypatch.setattr(sys.modules[__name__], "open_store", blocking)
    return str(request.param)


@pytest.fixture
def location(tmp_path: Path, backend_server: str | None) -> Iterator[str]:
    """An empty recorder location of the backend under test."""
    with recorder_database(backend_server) as url:
        yield url or str(tmp_path / "recorder.db")


@pytest.fixture
def recorder(location: str) -> str:
    write_executions(
        location,
        [
            make("7c8d9e0f00000001", "500", 1000.0, function="stripe_webhook"),
            make("7c8d9e0f00000002", "200", 1001.0, function="stripe_webhook"),
            make("1a2b3c4d00000000", "201", 1002.0),
            make(
                "b3c4d5e600000000",
                "done",
                1003.0,
                kind="job",
                function="send_email",
                logs=[LogEntry(1.0, "stdout", "took the Slow path")],
            ),
            make("c4d5e6f700000000", "failed", 1004.0, kind="job", function="send_email"),
            make("a1b2c3d400000000", "400", 1005.0),
        ],
    )
    return location


async def test_stats_count_the_executions_their_span_and_the_replays(recorder: str) -> None:
    write_executions(
        recorder,
        [make("e6f7080900000000", started=1010.0, kind="replay"), make("f708090a00000000")],
    )
    async with await open_store(recorder) as store:
        stats = await store.stats()
    assert (stats.executions, stats.replays) == (8, 1)
    assert (stats.oldest, stats.newest) == (1000.0, 1010.0)


async def test_ids_resolve_by_full_id_prefix_and_req_form(recorder: str) -> None:
    async with await open_store(recorder) as store:
        assert (await store.get("1a2b3c4d00000000")).id == "1a2b3c4d00000000"
        assert (await store.get("req:1A2B")).id == "1a2b3c4d00000000"
        e = await store.get("7c8d9e0f00000001")
        assert [m.table for m in e.mutations] == ["users"]
        with pytest.raises(AmbiguousExecution) as amb:
            await store.get("7c8d9e0f")
        assert "req:7c8d9e0f0000" in str(amb.value) and len(amb.value.candidates) == 2
        for bad in ("ffffffff", "not-hex!", ""):
            with pytest.raises(UnknownExecution):
                await store.get(bad)


async def test_a_development_version_1_recorder_is_refused_in_one_line(tmp_path: Path) -> None:
    """Version 1 never shipped: such a file is not upgraded but named, with what to do."""
    path = tmp_path / "recorder.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE executions (id TEXT)")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    with pytest.raises(RecorderTooNew, match="development build of Flux; remove the file"):
        await SQLiteStore.open(path)


async def test_a_new_recorder_has_no_primary_key_over_random_execution_ids(
    tmp_path: Path,
) -> None:
    path = tmp_path / "recorder.db"
    open_for_writing(path).close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3
    for table in ("mutations", "call_sites"):  # no primary key over random execution ids
        names = [r[1] for r in conn.execute(f"PRAGMA index_list({table})")]
        assert names and not any(n.startswith("sqlite_autoindex") for n in names)
    conn.close()


async def test_writing_an_execution_again_replaces_its_mutations_and_sites(
    location: str,
) -> None:
    execution = make("1a2b3c4d00000000")
    execution.spans = [Span(id=0, name="db.insert", file="functions/create_user.py", line=5)]
    write_executions(location, [execution])
    write_executions(location, [execution])
    async with await open_store(location) as store:
        executions = await store.executions(ExecutionQuery())
        mutations = await store.mutations(MutationQuery())
        sites = await store.call_sites("functions/create_user.py", 5)
    assert [len(executions), len(mutations), len(sites)] == [1, 1, 1]


async def test_a_nul_character_in_a_users_strings_is_recorded(location: str) -> None:
    """PostgreSQL text cannot hold NUL: its columns get U+FFFD, the record keeps the string."""
    execution = make("1a2b3c4d00000000", "500", function="create\x00user")
    execution.error = ErrorInfo("ValueError", "bad\x00byte")
    execution.mutations[0].after = {"name": "a\x00b"}
    plain = make("5e6f708100000000", started=1001.0)
    write_executions(location, [execution, plain])
    async with await open_store(location) as store:
        got = await store.get("1a2b3c4d")
        assert got.error is not None and got.error.message == "bad\x00byte"
        assert [e.id for e in await store.executions(ExecutionQuery())] == [plain.id, got.id]
        (mutation,) = await store.mutations(MutationQuery(execution_id=got.id))
        assert mutation.after is not None and mutation.after["name"] in ("a\x00b", "a\ufffdb")


async def test_filters_select_by_status_class_kind_and_time(recorder: str) -> None:
    async with await open_store(recorder) as store:

        async def ids(**kw: object) -> list[str]:
            rows = await store.executions(ExecutionQuery(**kw))  # type: ignore[arg-type]
            return [e.id[:4] for e in rows]

        assert await ids(status="5xx") == ["7c8d"]
        assert await ids(status="failed") == ["c4d5", "7c8d"]
        assert await ids(status="4xx") == ["a1b2"]
        assert await ids(kind="job") == ["c4d5", "b3c4"]
        assert await ids(function="stripe_webhook", newest_first=False) == ["7c8d", "7c8d"]
        assert await ids(since=1002.0, until=1004.0) == ["b3c4", "1a2b"]
        assert await ids(limit=2) == ["a1b2", "c4d5"]
        streamed = [
            e.id[:4] async for e in store.stream(ExecutionQuery(newest_first=False, limit=None))
        ]
        assert streamed == ["7c8d", "7c8d", "1a2b", "b3c4", "c4d5", "a1b2"]
        assert await ids(log="slow PATH") == ["b3c4"]  # printed or logged lines, any case
        muts = await store.mutations(MutationQuery(table="users", pk="u_1"))
        assert len(muts) == 6 and muts[0].at <= muts[-1].at
        stats = await store.stats()
        assert (stats.executions, stats.oldest, stats.newest) == (6, 1000.0, 1005.0)


async def test_the_newest_are_found_first_in_recent_days_and_then_further_back(
    location: str,
) -> None:
    """A newest-first query with a limit asks the last day, then week, then everything (on
    PostgreSQL, each a few day partitions to plan): whichever answers, it is the newest."""
    now = time.time()
    ages = {"1a": 3600, "2b": 2 * DAY, "3c": 3 * DAY, "4d": 30 * DAY, "5e": 60 * DAY}
    write_executions(
        location, [make(f"{k}00000000000000", started=now - age) for k, age in ages.items()]
    )
    async with await open_store(location) as store:

        async def newest(limit: int, **kw: float) -> list[str]:
            query = ExecutionQuery(newest_first=True, limit=limit, **kw)  # type: ignore[arg-type]
            return [e.id[:2] for e in await store.executions(query)]

        assert await newest(1) == ["1a"]
        assert await newest(3) == ["1a", "2b", "3c"]
        assert await newest(4) == ["1a", "2b", "3c", "4d"]
        assert await newest(9) == ["1a", "2b", "3c", "4d", "5e"]
        assert await newest(3, since=now - 40 * DAY) == ["1a", "2b", "3c"]
        assert await newest(9, since=now - 40 * DAY) == ["1a", "2b", "3c", "4d"]
        assert await newest(2, until=now - DAY) == ["2b", "3c"]
        assert await newest(9, until=now - 10 * DAY) == ["4d", "5e"]


async def test_a_long_executions_late_call_sites_and_mutations_are_found_by_time(
    location: str,
) -> None:
    """Mutations and call sites are read by their own time, while PostgreSQL keeps them in
    their execution's day: one that ran for three days is still found by its late rows."""
    now = time.time()
    long = make("1a00000000000000", started=now - 3 * DAY)
    long.duration_ms = 3 * DAY * 1000
    long.mutations[0].at = now - 60
    long.spans = [
        Span(
            id=0,
            name="db.insert",
            file="functions/create_user.py",
            line=5,
            start_ms=long.duration_ms - 60_000,
        )
    ]
    recent = make("2b00000000000000", started=now - 30)
    recent.spans = [Span(id=0, name="db.insert", file="functions/create_user.py", line=5)]
    old = make("3c00000000000000", started=now - 5 * DAY)
    write_executions(location, [long, recent, old])
    async with await open_store(location) as store:
        sites = await store.call_sites("functions/create_user.py", 5, since=now - 3600)
        assert [s.execution_id[:2] for s in sites] == ["2b", "1a"]
        found = await store.mutations(MutationQuery(since=now - 3600))
        assert [m.execution_id[:2] for m in found] == ["1a", "2b"]
        assert len(await store.mutations(MutationQuery(since=now - 6 * DAY))) == 3


async def test_a_missing_recorder_is_recorder_missing(location: str) -> None:
    """No file there, or a database without the recorder's schema: nothing is created."""
    with pytest.raises(RecorderMissing, match=r"no recorder (at|in)"):
        await open_store(location)
    if not is_database_url(location):
        assert not Path(location).exists()


async def test_an_unreachable_database_is_one_line(postgres_url: str) -> None:
    url = with_database(postgres_url, "flux_nowhere").replace(
        f":{urlsplit(postgres_url).port}/", f":{free_port()}/"
    )
    with pytest.raises(RecorderMissing, match="cannot reach the recorder at") as missing:
        await open_store(url)
    assert "\n" not in str(missing.value)


async def test_garbage_file_is_recorder_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "recorder.db"
    path.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(RecorderCorrupt, match="not a readable recorder"):
        await SQLiteStore.open(path)


async def test_foreign_sqlite_file_is_recorder_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "recorder.db"
    sqlite3.connect(path).execute("CREATE TABLE other (x)").connection.commit()
    with pytest.raises(RecorderCorrupt, match="not a Flux recorder"):
        await SQLiteStore.open(path)


async def test_newer_schema_is_refused(recorder: str) -> None:
    make_newer(recorder)
    with pytest.raises(RecorderTooNew, match="newer than this Flux"):
        await open_store(recorder)


async def test_an_older_schema_is_refused_by_readers_and_upgraded_by_the_writer(
    recorder: str,
) -> None:
    """Readers never write, on every backend: an older recorder is one line naming the
    commands that upgrade it, and stays as it was until a writer opens it."""
    older = make_older(recorder)
    with pytest.raises(RecorderCorrupt, match="written by an older Flux") as refused:
        await open_store(recorder)
    message = str(refused.value)
    assert "\n" not in message and "`flux dev` or `flux serve` upgrades it" in message
    assert f"schema v{older}" in message
    assert schema_version_of(recorder) == older  # the reader changed nothing
    write_executions(recorder, [make("d5e6f70800000000", started=1006.0)])  # a writer opens it
    assert schema_version_of(recorder) == older + 1
    async with await open_store(recorder) as store:
        assert len(await store.executions(ExecutionQuery())) == 7


async def test_mutation_pages_read_every_row_once_across_a_page_written_at_one_instant(
    location: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Five rows at one instant with pages of two: the reader widens the page, not loops."""
    monkeypatch.setattr(store_module, "MUTATION_PAGE", 2)
    execution = make("1a2b3c4d00000000")
    execution.mutations = [
        Mutation(execution.id, seq, "users", "update", f"u_{seq}", None, {}, 1, 1000.0 + (seq > 4))
        for seq in range(7)
    ]
    write_executions(location, [execution])
    async with await open_store(location) as store:
        pages = [page async for page in mutation_pages(store, since=1000.0)]
    assert sorted(m.seq for page in pages for m in page) == list(range(7))


async def test_creations_are_the_writes_that_recorded_the_row_after(location: str) -> None:
    """`MutationQuery.creations`: what a why report looks through for the row a failure did
    not find — inserts, updates and replaces with the row after, not misses or deletes."""
    execution = make("1a2b3c4d00000000")
    row = {"customer_id": "cus_ABC"}
    execution.mutations = [
        Mutation(execution.id, 0, "subs", "update", None, None, None, 0, 1000.0, row),
        Mutation(execution.id, 1, "subs", "insert", "s_1", None, row, 1, 1001.0),
        Mutation(execution.id, 2, "subs", "update", "s_1", row, {**row, "n": 2}, 1, 1002.0),
        Mutation(execution.id, 3, "subs", "delete", "s_1", row, None, 1, 1003.0),
        Mutation(execution.id, 4, "users", "insert", "u_1", None, {"id": "u_1"}, 1, 1004.0),
    ]
    write_executions(location, [execution])
    async with await open_store(location) as store:
        found = await store.mutations(MutationQuery(table="subs", since=1000.0, creations=True))
        every = await store.mutations(MutationQuery(table="subs", since=1000.0))
    assert [m.seq for m in found] == [1, 2]
    assert [m.seq for m in every] == [0, 1, 2, 3]
