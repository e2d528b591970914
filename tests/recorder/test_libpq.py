"""`recorder.libpq`, the blocking connection one-shot commands read a PostgreSQL recorder
through: parameters and results of every type the recorder's reads use, each failure with its
SQLSTATE, and a server that went away (the store suite runs over it too: test_store.py)."""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import urlsplit

import pytest

from flux_lsp.recorder import libpq
from flux_lsp.recorder.libpq import Connection, PgError, numbered
from tests.harness import free_port
from tests.postgres import with_database


def test_libpq_is_found() -> None:
    """psycopg's binary package ships one; Flux's own dependencies guarantee a libpq here."""
    assert libpq.load() is not None


def test_parameters_and_results_keep_their_types(postgres_url: str) -> None:
    conn = Connection.connect(postgres_url, application_name="flux test")
    try:
        sql = numbered(
            "SELECT ?::text AS s, ? AS i, ? AS f, ? AS b, ?::text AS n, ? AS d, "
            "1.5::numeric AS num, 2::int2 AS small, 0.25::float4 AS real, '{\"a\": [1]}'::json AS j"
        )
        [row] = conn.query(sql, ("héllo ' \\ ?", 2**40, 0.1, True, None, Decimal("1.25")))
        assert row == {
            "s": "héllo ' \\ ?",
            "i": 2**40,
            "f": 0.1,
            "b": True,
            "n": None,
            "d": Decimal("1.25"),
            "num": Decimal("1.5"),
            "small": 2,
            "real": 0.25,
            "j": {"a": [1]},
        }
        assert conn.query("SELECT 1 AS x WHERE false") == []
        assert conn.query(numbered("SELECT ? > 3.5 AS above"), (4,)) == [{"above": True}]
    finally:
        conn.close()
    assert conn.closed


def test_a_failed_query_says_why_with_its_sqlstate_and_the_connection_lives_on(
    postgres_url: str,
) -> None:
    conn = Connection.connect(postgres_url)
    try:
        with pytest.raises(PgError, match="nowhere") as failed:
            conn.query("SELECT * FROM nowhere")
        assert failed.value.sqlstate == "42P01" and failed.value.connected
        with pytest.raises(PgError) as failed:
            conn.query("SELECT 1/0")
        assert failed.value.sqlstate == "22012"
        assert conn.query("SELECT 1 AS one") == [{"one": 1}]
        with pytest.raises(TypeError, match="list"):
            conn.query(numbered("SELECT ?"), ([1],))
    finally:
        conn.close()


def test_an_unreachable_server_and_a_lost_connection_are_not_connected(postgres_url: str) -> None:
    port = urlsplit(postgres_url).port
    nowhere = with_database(postgres_url, "postgres").replace(f":{port}/", f":{free_port()}/")
    with pytest.raises(PgError) as refused:
        Connection.connect(nowhere, connect_timeout="2")
    assert not refused.value.connected and "Connection refused" in str(refused.value)
    conn = Connection.connect(postgres_url)
    other = Connection.connect(postgres_url)
    try:
        [pid] = conn.query("SELECT pg_backend_pid() AS pid")
        other.query(numbered("SELECT pg_terminate_backend(?)"), (pid["pid"],))
        with pytest.raises(PgError) as lost:
            conn.query("SELECT 1")
        assert not lost.value.connected and conn.broken
    finally:
        conn.close()
        other.close()


def test_placeholders_are_numbered_in_order() -> None:
    assert numbered("a = ? AND b IN (?, ?)") == "a = $1 AND b IN ($2, $3)"
    assert numbered("no placeholders") == "no placeholders"
