"""The recorder read API of `flux serve`: every `Store` query as an HTTP endpoint.

The routes read the server's own recorder (its file, or its PostgreSQL recorder) through a
`Store` and answer with the records as JSON (`encode.to_json` of `Execution` and `Mutation`);
`RemoteStore` is the client.
Query parameters and error bodies use the wire format in `recorder.remote_store`, so a bad
filter is a 400 saying which, an unknown id a 404 and an ambiguous prefix a 409 — each with
the message the local store would have raised. `/tail` is a server-sent-events stream of
new executions (`RemoteStore.follow` reads it), found with the same `Follower` as
`flux tail --follow`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import asdict
from pathlib import Path

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from flux_lsp.encode import to_json
from flux_lsp.model import Execution
from flux_lsp.recorder.follow import Follower
from flux_lsp.recorder.open_store import open_store
from flux_lsp.recorder.query import ExecutionQuery, MutationQuery, QueryError
from flux_lsp.recorder.remote_store import (
    error_payload,
    error_status,
    parse_bool,
    parse_int,
    parse_number,
    query_from_params,
    stats_payload,
)
from flux_lsp.recorder.store import RecorderError, Store
from flux_lsp.recorder.writer import encode

Handler = Callable[[Request], Awaitable[Response]]


def _required(params: Mapping[str, str], key: str) -> str:
    value = params.get(key)
    if value is None or value == "":
        raise QueryError(f"missing parameter {key!r}")
    return value


def _answers_errors(handler: Handler) -> Handler:
    """Turn store and query errors into their 4xx JSON bodies."""

    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except (RecorderError, QueryError) as exc:
            return JSONResponse(error_payload(exc), status_code=error_status(exc))

    return wrapped


def _event(execution: Execution) -> str:
    data = encode(execution).decode()
    return f"id: {execution.started_at!r}:{execution.id}\nevent: execution\ndata: {data}\n\n"


def _cursor(last_event_id: str | None, since: float | None) -> tuple[float, str]:
    """Where a tail starts: after the last event the client saw, at `since`, or now."""
    if last_event_id:
        at, _, ident = last_event_id.partition(":")
        with contextlib.suppress(ValueError):
            return float(at), ident
    return (since if since is not None else time.time()), ""


class RecorderAPI:
    """The read routes over one recorder, a file or PostgreSQL (opened on first use, closed by
    `close`)."""

    def __init__(
        self,
        recorder_path: Callable[[], Path | str],
        *,
        poll_seconds: float = 0.2,
        stream_seconds: float = 30.0,
        keepalive_seconds: float = 10.0,
    ) -> None:
        self._path = recorder_path
        self._store: Store | None = None
        self._opening = asyncio.Lock()
        self.poll_seconds = poll_seconds
        self.stream_seconds = stream_seconds
        self.keepalive_seconds = keepalive_seconds

    async def store(self) -> Store:
        async with self._opening:
            if self._store is None:
                self._store = await open_store(self._path())
            return self._store

    async def close(self) -> None:
        if self._store is not None:
            await self._store.close()
            self._store = None

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/executions", _answers_errors(self.executions)),
            Route("/executions/export", _answers_errors(self.export)),
            Route("/executions/{ident}", _answers_errors(self.execution)),
            Route("/mutations", _answers_errors(self.mutations)),
            Route("/call_sites", _answers_errors(self.call_sites)),
            Route("/function_stats", _answers_errors(self.function_stats)),
            Route("/stats", _answers_errors(self.stats)),
            Route("/change_token", _answers_errors(self.change_token)),
            Route("/tail", _answers_errors(self.tail)),
        ]

    # -- handlers ------------------------------------------------------------------------

    async def executions(self, request: Request) -> Response:
        query = query_from_params(request.query_params)
        found = await (await self.store()).executions(query)
        return JSONResponse({"executions": [to_json(e) for e in found]})

    async def export(self, request: Request) -> Response:
        query = query_from_params(request.query_params)
        store = await self.store()

        async def lines() -> AsyncIterator[bytes]:
            async for execution in store.stream(query):
                yield encode(execution) + b"\n"

        return StreamingResponse(lines(), media_type="application/x-ndjson")

    async def execution(self, request: Request) -> Response:
        found = await (await self.store()).get(request.path_params["ident"])
        return JSONResponse(to_json(found))

    async def mutations(self, request: Request) -> Response:
        params = request.query_params
        query = MutationQuery(
            table=params.get("table"),
            pk=params.get("pk"),
            execution_id=params.get("execution_id"),
            since=parse_number(params, "since"),
            until=parse_number(params, "until"),
            limit=parse_int(params, "limit", 1000, low=1) or 1000,
            creations=parse_bool(params, "creations", False),
        )
        found = await (await self.store()).mutations(query)
        return JSONResponse({"mutations": [to_json(m) for m in found]})

    async def call_sites(self, request: Request) -> Response:
        params = request.query_params
        file = _required(params, "file")
        line = parse_int(params, "line", None, low=0, high=10_000_000)
        if line is None:
            raise QueryError("missing parameter 'line'")
        found = await (await self.store()).call_sites(
            file,
            line,
            since=parse_number(params, "since"),
            limit=parse_int(params, "limit", 20, low=1) or 20,
        )
        return JSONResponse({"call_sites": [asdict(c) for c in found]})

    async def function_stats(self, request: Request) -> Response:
        params = request.query_params
        found = await (await self.store()).function_stats(
            _required(params, "function"),
            since=parse_number(params, "since"),
            limit=parse_int(params, "limit", 500, low=1) or 500,
        )
        return JSONResponse({"executions": [to_json(e) for e in found]})

    async def stats(self, request: Request) -> Response:
        return JSONResponse(stats_payload(await (await self.store()).stats()))

    async def change_token(self, request: Request) -> Response:
        return JSONResponse({"token": await (await self.store()).change_token()})

    async def tail(self, request: Request) -> Response:
        query = query_from_params(request.query_params)
        store = await self.store()
        start = _cursor(request.headers.get("last-event-id"), query.since)
        return StreamingResponse(
            self._events(request, store, query, start),
            media_type="text/event-stream",
            headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
        )

    async def _events(
        self,
        request: Request,
        store: Store,
        query: ExecutionQuery,
        start: tuple[float, str],
    ) -> AsyncIterator[str]:
        """New executions as events, until the client leaves or the stream's time is up."""
        loop = asyncio.get_running_loop()
        ends = loop.time() + self.stream_seconds
        quiet_since = loop.time()
        follower = Follower(store, query, after=start)
        yield ": flux tail\n\n"
        while loop.time() < ends and not await request.is_disconnected():
            for execution in await follower.poll():
                quiet_since = loop.time()
                yield _event(execution)
            if loop.time() - quiet_since > self.keepalive_seconds:
                quiet_since = loop.time()
                yield ": keepalive\n\n"
            await asyncio.sleep(self.poll_seconds)
