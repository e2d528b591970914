"""The Flux MCP server: the tools and resources on an `MCPServer`, served over stdio or HTTP.

`create_server` assembles one for a `Workspace`. `run_stdio` serves it on stdin/stdout (the
SDK points the process's own stdout at stderr meanwhile, so a function that prints during a
replay cannot corrupt the stream). `run_http` serves streamable HTTP at `/mcp` on a loopback
address only, and every request must carry `Authorization: Bearer <token>` (checked by the
SDK's bearer-token middleware with a constant-time comparison).
"""

from __future__ import annotations

import hmac
import ipaddress
from typing import Any

import anyio
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from mcp_types import Resource

import flux_lsp
from flux_lsp.mcp.resources import FAILURE_URI, FILE_URI, MIME, FailureResources
from flux_lsp.mcp.tools import FluxTools
from flux_lsp.mcp.workspace import Workspace

INSTRUCTIONS = (
    "Flux records every execution of this project's backend functions. Start with "
    "recent_failures, ask why for a failure's root cause, trace for its steps, state_history "
    "for a row's writes; after editing the code, replay_incident (a window, or around a "
    "failure's id) or replay_request runs the recorded requests on the working tree in a "
    "sandbox and says whether the failure is fixed. Resources list the recorded failures per "
    "source file."
)


class FluxServer(MCPServer[Any]):
    """An `MCPServer` whose resource list includes the recorded failure groups."""

    def __init__(self, workspace: Workspace, **options: Any) -> None:
        super().__init__(
            "flux",
            version=flux_lsp.__version__,
            instructions=INSTRUCTIONS,
            log_level="WARNING",
            **options,
        )
        self.workspace = workspace
        self.failures = FailureResources(workspace)
        FluxTools(workspace).register(self)
        self.resource(
            FAILURE_URI,
            name="failure",
            description="One recorded failure group: error, count, latest ids, source lines.",
            mime_type=MIME,
        )(self.failures.failure)
        self.resource(
            FILE_URI,
            name="file failures",
            description="Every failure group recorded in one source file, e.g. "
            "flux://files/functions/stripe_webhook.py.",
            mime_type=MIME,
        )(self.failures.file)

    async def list_resources(self) -> list[Resource]:
        return [*await super().list_resources(), *await self.failures.list()]


def create_server(workspace: Workspace, **options: Any) -> FluxServer:
    return FluxServer(workspace, **options)


def run_stdio(workspace: Workspace) -> None:
    """Serve on stdin/stdout until the client closes them."""
    server = create_server(workspace)

    async def main() -> None:
        try:
            await server.run_stdio_async()
        finally:
            await workspace.close()

    anyio.run(main)


class LoopbackOnly(ValueError):
    """`--host` named an address that is not loopback."""


def check_loopback(host: str) -> None:
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise LoopbackOnly(
            f"refusing to serve MCP on {host!r}: use a loopback address such as 127.0.0.1"
        )


class StaticToken:
    """The SDK's `TokenVerifier` for one shared token (`FLUX_MCP_TOKEN`)."""

    def __init__(self, token: str) -> None:
        if not token:
            raise ValueError("the MCP HTTP transport needs a non-empty token")
        self.token = token

    async def verify_token(self, token: str) -> AccessToken | None:
        if hmac.compare_digest(token.encode(), self.token.encode()):
            return AccessToken(token=token, client_id="flux", scopes=[])
        return None


def http_server(workspace: Workspace, host: str, port: int, token: str) -> FluxServer:
    """The server for streamable HTTP on a loopback `host`, requiring `token`."""
    check_loopback(host)
    base = f"http://{host}:{port}"
    return create_server(
        workspace,
        token_verifier=StaticToken(token),
        auth=AuthSettings(issuer_url=base, resource_server_url=f"{base}/mcp"),  # type: ignore[arg-type]
    )


def run_http(workspace: Workspace, host: str, port: int, token: str) -> None:
    """Serve streamable HTTP at http://host:port/mcp until interrupted."""
    server = http_server(workspace, host, port, token)

    async def main() -> None:
        try:
            await server.run_streamable_http_async(host=host, port=port)
        finally:
            await workspace.close()

    anyio.run(main)
