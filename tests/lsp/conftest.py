"""Fixtures: a recorder made by the real example shop, and `flux lsp` over stdio on it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pytest_lsp import LanguageClient

from tests.lsp.recording import Recording, record_shop, start_client, stop_client


@pytest.fixture
async def recording(tmp_path: Path) -> Recording:
    return await record_shop(tmp_path)


@pytest.fixture
async def lsp(recording: Recording) -> AsyncIterator[LanguageClient]:
    client = await start_client(recording.project)
    yield client
    await stop_client(client)
