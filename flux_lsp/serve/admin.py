"""The admin API `flux serve` mounts under `/_flux/`: deploy, rollback, the recorder, replays.

`AdminAPI` gathers the routes (deploy and rollback here, the recorder read API from
`recorder_api`, replays in the server's sandbox from `replay_api`, the OpenAPI document from
`openapi`) behind `BearerAuth`. With no token
configured (`FLUX_TOKEN` or `[server] token` in flux.toml) the API is off: every `/_flux/`
path answers 404 saying so, and `startup_note` says so when the server starts.
"""

from __future__ import annotations

from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from flux_lsp.bundle import BundleLimits
from flux_lsp.encode import to_json
from flux_lsp.project import Project
from flux_lsp.runtime.gateway import BackgroundTask
from flux_lsp.runtime.runtime import Runtime
from flux_lsp.serve.auth import BearerAuth
from flux_lsp.serve.deployments import Deployer, DeployError, active_project
from flux_lsp.serve.openapi import openapi_document
from flux_lsp.serve.recorder_api import RecorderAPI
from flux_lsp.serve.replay_api import ReplayAPI

PREFIX = "/_flux"


def _error(message: str, status: int, kind: str) -> JSONResponse:
    return JSONResponse({"error": message, "kind": kind}, status_code=status)


async def read_body(request: Request, limit: int) -> bytes | Response:
    """The request body, or a 413 as soon as it is known to be larger than `limit`."""
    too_large = _error(
        f"bundle is larger than the server accepts ({limit:,} bytes)", 413, "BundleTooLarge"
    )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return too_large
        chunks.append(chunk)
    return b"".join(chunks)


class AdminAPI:
    """The `/_flux/` routes of one `flux serve` process."""

    def __init__(
        self,
        runtime: Runtime,
        base: Project,
        token: str | None,
        *,
        limits: BundleLimits | None = None,
    ) -> None:
        self.runtime = runtime
        self.token = token or None
        self.limits = limits or BundleLimits()
        self.deployer = Deployer(runtime, base, self.limits)
        self.recorder = RecorderAPI(lambda: self.runtime.project.recorder_location)
        self.replays = ReplayAPI(runtime, self.recorder.store)

    @property
    def enabled(self) -> bool:
        return self.token is not None

    def startup_note(self) -> str:
        if self.enabled:
            return f"admin API on {PREFIX}/ (deploy, recorder; bearer token required)"
        return (
            f"admin API off: set FLUX_TOKEN or [server] token in flux.toml to enable "
            f"{PREFIX}/ (flux deploy, --server)"
        )

    def routes(self) -> list[BaseRoute]:
        if self.token is None:
            return [Mount(PREFIX, routes=[Route("/{rest:path}", self.disabled, methods=_ALL)])]
        routes: list[BaseRoute] = [
            Route("/deploy", self.deploy, methods=["POST"]),
            Route("/rollback", self.rollback, methods=["POST"]),
            Route("/deployments", self.deployments),
            Route("/openapi.json", self.openapi),
            *self.recorder.routes(),
            *self.replays.routes(),
            Route("/{rest:path}", self.not_found, methods=_ALL),
        ]
        return [Mount(PREFIX, routes=routes, middleware=[Middleware(BearerAuth, token=self.token)])]

    def on_shutdown(self) -> list[BackgroundTask]:
        """What the app runs as it stops: closing the recorder reader."""
        return [self.recorder.close] if self.enabled else []

    # -- handlers ------------------------------------------------------------------------

    async def disabled(self, request: Request) -> Response:
        return _error(
            "the admin API is off on this server: start `flux serve` with FLUX_TOKEN set",
            404,
            "AdminDisabled",
        )

    async def not_found(self, request: Request) -> Response:
        return _error(f"no admin endpoint at {request.url.path}", 404, "NotFound")

    async def deploy(self, request: Request) -> Response:
        body = await read_body(request, self.limits.max_compressed)
        if isinstance(body, Response):
            return body
        dry_run = request.query_params.get("dry_run", "") in ("1", "true")
        try:
            if dry_run:
                result = await self.deployer.check(body)
            else:
                result = await self.deployer.deploy(body)
        except DeployError as exc:
            return _error(str(exc), exc.status, "BundleRejected")
        return JSONResponse(to_json(result))

    async def rollback(self, request: Request) -> Response:
        try:
            result = await self.deployer.rollback()
        except DeployError as exc:
            return _error(str(exc), exc.status, "RollbackRefused")
        return JSONResponse(to_json(result))

    async def deployments(self, request: Request) -> Response:
        return JSONResponse(self.deployer.status())

    async def openapi(self, request: Request) -> Response:
        return JSONResponse(openapi_document())


_ALL = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def prepare(project: Project) -> Project:
    """The project `flux serve` runs: the active deployment, else the folder itself.

    A server with the admin API on may start with no functions yet, waiting for its first
    `flux deploy`; its empty `functions/` folder is created here."""
    served = active_project(project)
    if served is project and project.settings.server.token and not project.functions_dir.exists():
        project.functions_dir.mkdir(parents=True)
    return served
