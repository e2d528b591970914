"""Fixtures: a recorder made by the real example shop, and `flux lsp` over stdio on it.

The shop is driven once per session and recorder backend; each test gets its own copy of the
project (recorder included: the file, or a copy of the database), so tests can edit files and
record more without affecting each other.
"""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from pytest_lsp import LanguageClient

from tests.lsp.recording import Recording, record_shop, start_client, stop_client
from tests.recorders import copy_recorder, recorder_database


@pytest.fixture(scope="session")
def shop_recording(
    tmp_path_factory: pytest.TempPathFactory, backend_server: str | None
) -> Iterator[Recording]:
    with recorder_database(backend_server) as url:
        yield asyncio.run(record_shop(tmp_path_factory.mktemp("recorded"), url))


@pytest.fixture
def recording(shop_recording: Recording, tmp_path: Path) -> Iterator[Recording]:
    target = tmp_path / "shop"
    shutil.copytree(shop_recording.project, target)
    with copy_recorder(target):
        yield dataclasses.replace(shop_recording, project=target)


@pytest.fixture
async def lsp(recording: Recording) -> AsyncIterator[LanguageClient]:
    client = await start_client(recording.project)
    yield client
    await stop_client(client)
