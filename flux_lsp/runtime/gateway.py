"""The HTTP gateway: a Starlette app that routes `/<name>` to `functions/<name>.py`.

Every method reaches the handler. Unknown or invalid names, jobs (`handler(job, ctx)`, run
only from the queue) and `_helpers` get a 404 JSON body that carries `x-flux-request-id`. A 5xx
is one line on the console (`flux.gateway` logger), as a failed job is. The request
the handler sees is a Starlette `Request` whose `json()` turns a malformed body into a 400.
Other routes (the admin API of `flux serve`) can be mounted in front with `extra_routes`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from flux_lsp.model import new_execution_id
from flux_lsp.runtime.bodies import decode_body
from flux_lsp.runtime.error_capture import HTTPError, MalformedJSON
from flux_lsp.runtime.functions import valid_function_name
from flux_lsp.runtime.runtime import Invocation, RunResult, Runtime
from flux_lsp.runtime.tracecontext import incoming

log = logging.getLogger("flux.gateway")

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


class FluxRequest(Request):
    """A Starlette request whose malformed JSON body becomes a 400, not a 500."""

    async def json(self) -> Any:
        try:
            return await super().json()
        except (ValueError, UnicodeDecodeError) as exc:
            raise MalformedJSON(str(exc)) from None


class BodyTooLarge(HTTPError):
    """The request body is over `[server] max_body`: a 413, and the body is not read on."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body over the {limit:,}-byte limit ([server] max_body)")


class BodyTooSlow(HTTPError):
    """The next piece of the request body did not come within `[server] body_timeout`."""

    def __init__(self, timeout: float) -> None:
        super().__init__(408, f"request body stalled for {timeout:g} s ([server] body_timeout)")


async def read_body(request: Request, limit: int, timeout: float) -> bytes:
    """The whole body, read as it streams in; raises (having read at most `limit` bytes) when
    it is declared or turns out larger, or stalls. Later `request.body()` calls get it.

    Reads the ASGI messages themselves (a small body is one message, one timer), where
    Starlette's `stream()` takes three steps for it."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(limit)
    cached: bytes | None = getattr(request, "_body", None)
    if cached is not None:  # a request rebuilt with its body (replay)
        if len(cached) > limit:
            raise BodyTooLarge(limit)
        return cached
    chunks: list[bytes] = []
    size = 0
    receive = request.receive
    more = True
    while more:
        try:
            async with asyncio.timeout(timeout):
                message = await receive()
        except TimeoutError:
            raise BodyTooSlow(timeout) from None
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        more = message.get("more_body", False)
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge(limit)
            chunks.append(chunk)
    body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    request._body = body  # Starlette's cache: body() and json() answer from it
    request._stream_consumed = True
    return body


async def describe_request(
    request: Request, runtime: Runtime
) -> tuple[dict[str, Any], HTTPError | None]:
    """The recorded form of a request (method, path, query, headers and body), and the error
    that refuses it before any handler runs (a body too large or too slow), if any."""
    settings = runtime.project.settings
    refused: HTTPError | None = None
    try:
        raw = await read_body(request, settings.server.max_body, settings.server.body_timeout)
        body = decode_body(raw, settings.recorder.max_value)
    except HTTPError as exc:
        refused, body = exc, f"[not read: {exc.message}]"
    recorded = {
        "method": request.method,
        "path": request.url.path,
        "query": dict(request.query_params),
        # Redacted with the rest of the record when the run ends (`Redactor.execution`), which
        # also looks for copies of these secrets elsewhere in the execution.
        "headers": dict(request.headers.items()),
        "body": body,
    }
    return recorded, refused


async def http_invocation(
    request: Request, runtime: Runtime, name: str, **options: Any
) -> Invocation:
    """The invocation for an HTTP request to function `name` (the gateway's and replay's).

    `options` set the other `Invocation` fields, e.g. `kind="replay"` and `original=...`.
    """
    flux_request = FluxRequest(request.scope, request.receive)
    recorded, refused = await describe_request(flux_request, runtime)
    fields: dict[str, Any] = {"kind": "http", "trace": incoming(request.headers), **options}
    return Invocation(
        function=name,
        argument=flux_request,
        method=request.method,
        path=request.url.path,
        request=recorded,
        function_input=recorded["body"],
        refused=refused,
        **fields,
    )


def failure_line(result: RunResult) -> str:
    """`POST /checkout 500 req:1a2b3c4d: KeyError: 'sku' at functions/checkout.py:12`."""
    execution = result.execution
    error = execution.error
    where = ""
    if error is not None and error.location is not None:
        where = f" at {error.location.file}:{error.location.line}"
    reason = f"{error.type}: {error.message}" if error is not None else "internal error"
    return (
        f"{execution.method} {execution.path} {execution.status} {execution.short_id}: "
        f"{reason}{where}"
    )


def _not_found(message: str) -> Response:
    request_id = new_execution_id()
    return JSONResponse(
        {"error": message, "request_id": request_id},
        status_code=404,
        headers={"x-flux-request-id": request_id},
    )


BackgroundTask = Callable[[], Coroutine[Any, Any, None]]


def create_app(
    runtime: Runtime,
    extra_routes: Sequence[BaseRoute] = (),
    background: Sequence[BackgroundTask] = (),
    on_shutdown: Sequence[BackgroundTask] = (),
) -> Starlette:
    """The gateway app for one runtime; `background` tasks (worker, watcher) run alongside,
    `on_shutdown` ones after them, before the recorder closes."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await runtime.start()
        tasks = [asyncio.create_task(task()) for task in background]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            for step in on_shutdown:
                with contextlib.suppress(Exception):
                    await step()
            with contextlib.suppress(Exception):
                await runtime.stop()
            runtime.recorder.close()

    async def call_function(request: Request) -> Response:
        name = request.path_params["name"]
        registry = runtime.registry
        if not valid_function_name(name) or not registry.exists(name):
            return _not_found(f"no function named {name!r}")
        if registry.kind_of(name) == "job":
            return _not_found(
                f"{name!r} is a job (handler(job, ctx)); it runs from ctx.queue.enqueue, "
                "not over HTTP"
            )
        result = await runtime.run(await http_invocation(request, runtime, name))
        assert result.response is not None
        if result.response.status_code >= 500:
            log.warning("%s", failure_line(result))
        return result.response

    async def not_found(request: Request) -> Response:
        return _not_found(f"no function at {request.url.path}")

    routes: list[BaseRoute] = [
        *extra_routes,
        Route("/{name}", call_function, methods=METHODS),
        Route("/{rest:path}", not_found, methods=METHODS),
    ]
    return Starlette(routes=routes, lifespan=lifespan)
