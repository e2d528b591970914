"""The language server's end-to-end tests, again with `flux.recorder` set to a `flux serve` URL.

The recorder the shop wrote is served by the admin API (real uvicorn on loopback) and the
editor reads it only through `RemoteStore`: diagnostics, hovers and live updates must come out
exactly as they do from the local file.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from pytest_lsp import LanguageClient

from tests.lsp.recording import Recording, record_shop, start_client, stop_client
from tests.lsp.test_diagnostics import (
    test_a_failure_recorded_while_open_is_published_without_an_edit as live_update,
)
from tests.lsp.test_diagnostics import test_client_error_is_a_warning as client_error_warning
from tests.lsp.test_diagnostics import (
    test_failing_webhook_lands_on_the_raising_line as failing_webhook_diagnostic,
)
from tests.lsp.test_hover import (
    test_code_lens_on_the_handler as code_lens,
)
from tests.lsp.test_hover import (
    test_hover_on_a_ctx_call_shows_its_recent_results as ctx_call_hover,
)
from tests.lsp.test_hover import (
    test_hover_on_the_failing_line_is_the_why_report as why_hover,
)
from tests.serve.helpers import TOKEN
from tests.serve.test_remote_store import admin_server

LspTest = Callable[[LanguageClient, Recording], Awaitable[None]]
CASES: dict[str, LspTest] = {
    "diagnostic on the raising line": failing_webhook_diagnostic,
    "client error warning": client_error_warning,
    "why hover": why_hover,
    "ctx call hover": ctx_call_hover,
    "code lens": code_lens,
    "live update": live_update,
}


@pytest.fixture(scope="module")
def shop_recording(tmp_path_factory: pytest.TempPathFactory) -> Recording:
    return asyncio.run(record_shop(tmp_path_factory.mktemp("recorded")))


@pytest.fixture
async def remote_lsp(
    shop_recording: Recording, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[LanguageClient, Recording]]:
    project = tmp_path / "shop"
    shutil.copytree(shop_recording.project, project)
    recording = Recording(
        project,
        failed_webhooks=list(shop_recording.failed_webhooks),
        good_webhook=shop_recording.good_webhook,
        validation_error=shop_recording.validation_error,
    )
    monkeypatch.setenv("FLUX_TOKEN", TOKEN)  # the language server's RemoteStore reads it
    async with admin_server(project) as url:
        client = await start_client(project, configuration={"recorder": url})
        try:
            yield client, recording
        finally:
            await stop_client(client)


@pytest.mark.parametrize("case", list(CASES))
async def test_language_server_against_a_remote_store(
    remote_lsp: tuple[LanguageClient, Recording], case: str
) -> None:
    client, recording = remote_lsp
    await CASES[case](client, recording)
