"""A recorder produced by driving the real example shop, and a stdio client for `flux lsp`.

The shop's Stripe webhook fails twice for customers whose subscription row does not exist
yet (`ctx.db.update` raises RowNotFound), `create_user` answers one 400, and one customer goes
through signup → confirm_email → a successful webhook, so the handlers have passing runs too.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.uris import from_fs_path
from pytest_lsp import LanguageClient, client_capabilities, make_test_lsp_client

from examples.shop_story import signed_payment
from flux_lsp.project import Project
from tests.harness import FluxApp, copy_shop
from tests.recorders import use_recorder

WEBHOOK = "functions/stripe_webhook.py"
CREATE_USER = "functions/create_user.py"


@dataclass(slots=True)
class Recording:
    project: Path
    failed_webhooks: list[str] = field(default_factory=list)
    good_webhook: str = ""
    validation_error: str = ""

    @property
    def location(self) -> str:
        """The recorder: the project's file, or the PostgreSQL URL in its flux.toml."""
        return Project.load(self.project).recorder_location

    def uri(self, relative: str) -> str:
        return from_fs_path(str(self.project / relative)) or relative

    def text(self, relative: str) -> str:
        return (self.project / relative).read_text()


async def post_webhook(flux: FluxApp, customer_id: str) -> str:
    body, headers = signed_payment(customer_id)
    response = await flux.client.post("/stripe_webhook", content=body, headers=headers)
    return str(response.headers["x-flux-request-id"])


async def record_shop(tmp: Path, recorder_url: str | None = None) -> Recording:
    rec = Recording(copy_shop(tmp))
    use_recorder(rec.project, recorder_url)
    async with FluxApp(rec.project) as flux:
        for customer in ("cus_ABC", "cus_DEF"):
            rec.failed_webhooks.append(await post_webhook(flux, customer))
        response = await flux.client.post("/create_user", json={"name": "Alice"})
        assert response.status_code == 400
        rec.validation_error = response.headers["x-flux-request-id"]
        signup = {"email": "ok@example.com", "customer_id": "cus_OK", "name": "Ok"}
        assert (await flux.client.post("/signup", json=signup)).status_code == 201
        confirm = {"customer_id": "cus_OK"}
        assert (await flux.client.post("/confirm_email", json=confirm)).status_code == 200
        rec.good_webhook = await post_webhook(flux, "cus_OK")
        flux.flush()
    return rec


async def record_more(project: Path, customer_id: str) -> str:
    """One more failing webhook, recorded by a fresh app over the same project."""
    async with FluxApp(project) as flux:
        rid = await post_webhook(flux, customer_id)
        flux.flush()
    return rid


async def start_client(
    root: Path,
    configuration: dict[str, Any] | None = None,
    client: str = "visual_studio_code",
    initialization_options: dict[str, Any] | None = None,
) -> LanguageClient:
    lsp = make_test_lsp_client()
    if configuration is not None:
        lsp.set_configuration(configuration, section="flux")
    await lsp.start_io(sys.executable, "-m", "flux_lsp", "lsp")
    uri = from_fs_path(str(root)) or ""
    await lsp.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities(client),
            root_uri=uri,
            workspace_folders=[types.WorkspaceFolder(uri=uri, name=root.name)],
            initialization_options=initialization_options,
        )
    )
    return lsp


async def stop_client(lsp: LanguageClient) -> None:
    await lsp.shutdown_session()
    await lsp.stop()


def open_document(lsp: LanguageClient, uri: str, text: str, version: int = 1) -> None:
    lsp.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri, language_id="python", version=version, text=text
            )
        )
    )


async def execute_command(lsp: LanguageClient, command: str, *arguments: object) -> dict[str, Any]:
    """Run a Flux command through `workspace/executeCommand`; each answers with an object."""
    result = await lsp.workspace_execute_command_async(
        types.ExecuteCommandParams(command=command, arguments=list(arguments))
    )
    assert isinstance(result, dict)
    return result


def replace_document(lsp: LanguageClient, uri: str, text: str, version: int) -> None:
    lsp.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
        )
    )


async def wait_for_diagnostics(
    lsp: LanguageClient,
    uri: str,
    predicate: Any = None,
    timeout: float = 10.0,
) -> list[types.Diagnostic]:
    """Wait until diagnostics for `uri` are published (and satisfy `predicate`)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        diagnostics = list(lsp.diagnostics.get(uri, []))
        if uri in lsp.diagnostics and (predicate is None or predicate(diagnostics)):
            return diagnostics
        if loop.time() > deadline:
            raise AssertionError(f"no matching diagnostics for {uri}: {diagnostics}")
        await asyncio.sleep(0.02)


async def open_webhook(
    lsp: LanguageClient, recording: Recording
) -> tuple[str, str, list[types.Diagnostic]]:
    """Open the shop's webhook function and wait for its one Flux diagnostic."""
    uri = recording.uri(WEBHOOK)
    text = recording.text(WEBHOOK)
    open_document(lsp, uri, text)
    diagnostics = await wait_for_diagnostics(lsp, uri, lambda d: len(d) == 1)
    return uri, text, diagnostics
