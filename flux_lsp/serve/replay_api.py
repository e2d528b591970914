"""The replay routes of `flux serve`: re-run recorded requests in the server's own sandbox.

`flux replay <id> --server URL` and `flux incident replay <window> --server URL` post here
(behind the admin token) and read the answer as it is produced: JSON Lines, one event each.

    {"event": "plan", "count": 7, "webhooks": 7}          (a window: before the first outcome)
    {"event": "outcome", "outcome": {...}}                (a `ReplayOutcome`, as each ends)
    {"event": "report", "report": {...}}                  (the `ReplayReport`, last)
    {"event": "error", "error": "...", "kind": "..."}     (instead of the report)

The replay runs exactly as `flux replay` does on a workstation — the code the server runs now
(its active deployment), a sandbox copy of its data as it was, email off, outbound HTTP
answered from the recording — and the replays are recorded into the server's recorder as
kind `replay`. Bad input (an unknown id, a bad filter or window) is a 4xx JSON body before any
event. May import `replay/`, `recorder/` and `runtime/`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from flux_lsp.encode import JSON, to_json
from flux_lsp.recorder.query import QueryError, parse_filters
from flux_lsp.recorder.remote_store import error_payload, error_status
from flux_lsp.recorder.store import RecorderError, Store
from flux_lsp.replay.engine import plan_window, replay_one, replay_window, resolve_original
from flux_lsp.replay.report import ReplayOutcome, ReplayReport
from flux_lsp.runtime.runtime import Runtime

Event = dict[str, JSON]


def _line(event: Event) -> bytes:
    return json.dumps(event, ensure_ascii=False, default=str).encode() + b"\n"


async def _body(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise QueryError("the body is not JSON") from None
    if not isinstance(body, dict):
        raise QueryError("the body must be a JSON object")
    return body


def _number(body: dict[str, Any], key: str) -> float:
    value = body.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise QueryError(f"missing or bad {key!r}: expected epoch seconds")
    return float(value)


class ReplayAPI:
    """`POST /replay` (one execution) and `POST /replay/window` (a time window)."""

    def __init__(self, runtime: Runtime, store: Callable[[], Awaitable[Store]]) -> None:
        self.runtime = runtime
        self._store = store

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/replay", self.replay_one, methods=["POST"]),
            Route("/replay/window", self.replay_window, methods=["POST"]),
        ]

    async def replay_one(self, request: Request) -> Response:
        try:
            ident = (await _body(request)).get("id")
            if not isinstance(ident, str) or not ident:
                raise QueryError("missing 'id': the execution to replay")
            store = await self._store()
            await resolve_original(store, ident)  # an unknown id is a 404, not an event
        except (QueryError, RecorderError) as exc:
            return JSONResponse(error_payload(exc), status_code=error_status(exc))

        async def run(emit: Callable[[Event], None]) -> ReplayReport:
            return await replay_one(
                self.runtime.project,
                store,
                ident,
                recorder=self.runtime.recorder,
                progress=lambda outcome, _: emit({"event": "outcome", "outcome": to_json(outcome)}),
            )

        return self._stream(run)

    async def replay_window(self, request: Request) -> Response:
        try:
            body = await _body(request)
            since, until = _number(body, "since"), _number(body, "until")
            if until <= since:
                raise QueryError("bad window: the end is not after the start")
            filters = body.get("filters") or []
            if not isinstance(filters, list) or not all(isinstance(f, str) for f in filters):
                raise QueryError("'filters' must be a list of KEY=VALUE strings")
            query = parse_filters(filters) if filters else None
            with_jobs = bool(body.get("with_jobs", False))
            store = await self._store()
            plan = await plan_window(store, since, until, query=query, with_jobs=with_jobs)
        except (QueryError, RecorderError) as exc:
            return JSONResponse(error_payload(exc), status_code=error_status(exc))

        async def run(emit: Callable[[Event], None]) -> ReplayReport:
            emit({"event": "plan", "count": plan.count, "webhooks": plan.webhooks})

            def progress(outcome: ReplayOutcome, done: int) -> None:
                emit({"event": "outcome", "outcome": to_json(outcome)})

            return await replay_window(
                self.runtime.project,
                store,
                since,
                until,
                query=query,
                with_jobs=with_jobs,
                recorder=self.runtime.recorder,
                progress=progress,
                keep_passing=False,
            )

        return self._stream(run)

    def _stream(
        self, run: Callable[[Callable[[Event], None]], Coroutine[Any, Any, ReplayReport]]
    ) -> StreamingResponse:
        """Run the replay beside the response, sending each event as soon as it is emitted."""

        async def events() -> AsyncIterator[bytes]:
            queue: asyncio.Queue[Event | None] = asyncio.Queue()

            async def produce() -> None:
                try:
                    report = await run(queue.put_nowait)
                    queue.put_nowait({"event": "report", "report": to_json(report)})
                except Exception as exc:  # the stream has started: the error is an event
                    kind = type(exc).__name__
                    queue.put_nowait({"event": "error", "error": str(exc), "kind": kind})
                finally:
                    queue.put_nowait(None)

            task = asyncio.create_task(produce())
            try:
                while (event := await queue.get()) is not None:
                    yield _line(event)
            finally:
                if not task.done():
                    task.cancel()

        return StreamingResponse(events(), media_type="application/x-ndjson")
