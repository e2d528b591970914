"""The test suite's PostgreSQL: the session server answers, and each test gets its own database."""

from __future__ import annotations

import psycopg

from tests.postgres import fresh_database


def test_session_server_answers(postgres_url: str) -> None:
    with psycopg.connect(postgres_url) as conn:
        row = conn.execute("SELECT current_setting('server_version_num')::int").fetchone()
    assert row is not None and row[0] >= 130000


def test_fresh_database_is_empty_and_dropped(postgres_url: str) -> None:
    with fresh_database(postgres_url) as url:
        name = url.rsplit("/", 1)[1]
        with psycopg.connect(url) as conn:
            conn.execute("CREATE TABLE t (x int)")
            tables = conn.execute(
                "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
            ).fetchone()
        assert tables == (1,)
    with psycopg.connect(postgres_url) as conn:
        left = conn.execute(
            "SELECT count(*) FROM pg_database WHERE datname = %s", [name]
        ).fetchone()
    assert left == (0,)
