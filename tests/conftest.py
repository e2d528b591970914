"""Shared fixtures: a fresh copy of the example shop for each test, the recorded incident the
command and analysis tests read (recorded once per session), and an environment without a
Stripe webhook secret for the modules that opt in, and one PostgreSQL server per session
(`FLUX_TEST_POSTGRES_URL`, or a throwaway cluster; see tests/postgres.py) with a fresh database
per test. `store_backend` runs a recorder test on the file and on PostgreSQL alike (the
incident is recorded once per backend)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from flux_lsp.project import Project
from flux_lsp.runtime.database import AppDatabase, open_database
from tests.cli.incident import Incident, record_incident
from tests.harness import copy_shop
from tests.postgres import fresh_database, postgres_server
from tests.recorders import BACKENDS, recorder_database


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    return copy_shop(tmp_path)


@pytest.fixture(scope="session", params=BACKENDS)
def store_backend(request: pytest.FixtureRequest) -> str:
    """The recorder backend a test runs on: every test that asks runs on each of them."""
    return str(request.param)


@pytest.fixture(scope="session")
def backend_server(store_backend: str, request: pytest.FixtureRequest) -> str | None:
    """The PostgreSQL server for the `postgres` backend (None for the file)."""
    if store_backend == "sqlite":
        return None
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture(scope="session")
def incident(
    tmp_path_factory: pytest.TempPathFactory, backend_server: str | None
) -> Iterator[Incident]:
    with recorder_database(backend_server) as url:
        yield asyncio.run(record_incident(tmp_path_factory.mktemp("incident"), recorder_url=url))


@pytest.fixture
def no_env_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """The webhook secret comes from the shop's flux.toml, not the developer's environment
    (modules opt in with `pytestmark = pytest.mark.usefixtures("no_env_secret")`)."""
    monkeypatch.delenv("STRIPE_WEBHOOK_SECRET", raising=False)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """One PostgreSQL server for the whole session; a missing server fails, never skips."""
    with postgres_server() as url:
        yield url


@pytest.fixture
def postgres_database(postgres_url: str) -> Iterator[str]:
    """A fresh, empty database on the session's server, dropped after the test."""
    with fresh_database(postgres_url) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The app-database backend a test runs on: every test that uses it runs on both, the
    PostgreSQL one on a fresh database (`FLUX_DATABASE_URL`, as a user would set it)."""
    if request.param == "postgresql":
        monkeypatch.setenv("FLUX_DATABASE_URL", request.getfixturevalue("postgres_database"))
    else:
        monkeypatch.delenv("FLUX_DATABASE_URL", raising=False)
    return str(request.param)


@pytest.fixture
async def app_database(backend: str, tmp_path: Path) -> AsyncIterator[AppDatabase]:
    """An opened, empty app database on the test's backend."""
    database = open_database(Project.load(tmp_path))
    await database.open()
    try:
        yield database
    finally:
        await database.close()
