"""The recorded incident every command test reads, recorded once per session."""

from __future__ import annotations

import asyncio

import pytest

from tests.cli.incident import Incident, record_incident


@pytest.fixture(scope="session")
def incident(tmp_path_factory: pytest.TempPathFactory) -> Incident:
    return asyncio.run(record_incident(tmp_path_factory.mktemp("incident")))
