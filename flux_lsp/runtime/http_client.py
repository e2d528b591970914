"""`ctx.http`: outbound HTTP with httpx, every call an `http.request` span that replay can answer.

Each call records the method, URL, request and response headers (secret ones redacted) and
bodies (capped), the status code and the duration, under OpenTelemetry attribute names. One
`httpx.AsyncClient` per runtime (and event loop) is shared by all executions. During a replay
nothing goes out: each call is answered from the recorded `http.request` spans of the original
execution, matched by method, URL and request body (repeats in recorded order); a call with no
recorded answer raises `NoRecordedResponse`.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import TYPE_CHECKING, Any

import httpx

from flux_lsp.model import JSON, Span, otel_span_id
from flux_lsp.runtime.bodies import BODY_CAP, HOP_HEADERS, decode_body, encode_body
from flux_lsp.runtime.inflight import Trace
from flux_lsp.runtime.redaction import REDACTED
from flux_lsp.runtime.tracecontext import traceparent

if TYPE_CHECKING:
    from flux_lsp.runtime.runtime import LoadedCode, Runtime

SPAN_NAME = "http.request"
DEFAULT_TIMEOUT = 10.0
UNMATCHED_ATTRIBUTE = "flux.replay.unmatched"
"""Set on a replayed call's span when no recorded response matched it (before it raises)."""
_clients: weakref.WeakKeyDictionary[Runtime, tuple[asyncio.AbstractEventLoop, httpx.AsyncClient]]
_clients = weakref.WeakKeyDictionary()


class NoRecordedResponse(Exception):
    """During a replay, an outbound call that the original execution did not make."""

    def __init__(self, method: str, url: str) -> None:
        super().__init__(f"no recorded response for {method} {url}")
        self.method = method
        self.url = url


def shared_client(runtime: Runtime) -> httpx.AsyncClient:
    """The runtime's client for the running event loop, created on first use."""
    loop = asyncio.get_running_loop()
    cached = _clients.get(runtime)
    if cached is not None and cached[0] is loop and not cached[1].is_closed:
        return cached[1]
    client = httpx.AsyncClient(timeout=DEFAULT_TIMEOUT, follow_redirects=False)
    _clients[runtime] = (loop, client)
    return client


async def close_client(runtime: Runtime) -> None:
    """Close the runtime's shared client, if it has one."""
    cached = _clients.pop(runtime, None)
    if cached is not None:
        await cached[1].aclose()


def body_summary(raw: bytes) -> JSON:
    """A body as recorded: parsed JSON, or text capped at `BODY_CAP` characters."""
    return decode_body(raw, BODY_CAP)


class HttpService:
    """`ctx.http` for one execution: `get`, `post`, `put`, `patch`, `delete` and `request`.

    The client is the runtime's (shared by executions); the redactor is the run's code version's.
    """

    def __init__(self, runtime: Runtime, code: LoadedCode, trace: Trace) -> None:
        self._runtime = runtime
        self._redactor = code.redactor
        self._trace = trace
        self._used: set[int] = set()

    def _redacted_url(self, url: httpx.URL) -> str:
        redactor = self._redactor
        if not url.query:
            return str(url.copy_with(username=None, password=None))
        params: list[tuple[str, str | int | float | bool | None]] = [
            (k, REDACTED if redactor.is_secret_key(k) else v) for k, v in url.params.multi_items()
        ]
        clean = url.copy_with(username=None, password=None, query=None)
        return str(clean.copy_merge_params(httpx.QueryParams(params)))

    async def request(self, method: str, url: str | httpx.URL, **kwargs: Any) -> httpx.Response:
        """Send a request (httpx's keyword arguments: params, headers, json, content, data, ...)."""
        runtime, trace = self._runtime, self._trace
        client = shared_client(runtime)
        request = client.build_request(method.upper(), url, **kwargs)
        full_url = self._redacted_url(request.url)
        attrs: dict[str, JSON] = {
            "http.request.method": request.method,
            "url.full": full_url,
            "server.address": request.url.host,
            "server.port": request.url.port or (443 if request.url.scheme == "https" else 80),
        }
        with trace.span(SPAN_NAME, attrs) as span:
            content = await request.aread()
            span.input = {
                "method": request.method,
                "url": full_url,
                "headers": self._redactor.headers_dict(request.headers.items()),
                "body": body_summary(content),
            }
            if trace.original is not None:
                response = self._recorded(span, request, full_url)
            else:
                self._propagate(request, span)
                response = await client.send(request)
                await response.aread()
            span.attributes["http.response.status_code"] = response.status_code
            span.attributes["http.response.body.size"] = len(response.content)
            span.output = {
                "status_code": response.status_code,
                "headers": self._redactor.headers_dict(response.headers.items()),
                "body": body_summary(response.content),
            }
            if response.status_code >= 500:
                span.attributes["error.type"] = str(response.status_code)
        return response

    def _propagate(self, request: httpx.Request, span: Span) -> None:
        """Carry the trace on: `traceparent` names this call's span (a replay never calls)."""
        trace = self._trace
        if not trace.trace_id or "traceparent" in request.headers:
            return
        span_id = otel_span_id(trace.execution_id, span.id)
        request.headers["traceparent"] = traceparent(trace.trace_id, span_id)
        if trace.trace_state:
            request.headers["tracestate"] = trace.trace_state

    def _recorded(self, span: Span, request: httpx.Request, full_url: str) -> httpx.Response:
        """The recorded answer to this call in the execution being replayed."""
        original = self._trace.original
        assert original is not None
        body = self._redactor.value(span.input["body"])
        for recorded in original.spans:
            if recorded.name != SPAN_NAME or recorded.id in self._used:
                continue
            got = recorded.input if isinstance(recorded.input, dict) else {}
            if (got.get("method"), got.get("url"), got.get("body")) != (
                request.method,
                full_url,
                body,
            ):
                continue
            self._used.add(recorded.id)
            span.attributes["flux.replay.recorded_span"] = recorded.id
            out = recorded.output if isinstance(recorded.output, dict) else None
            if out is None or "status_code" not in out:
                raise httpx.TransportError(recorded.error or "request failed when recorded")
            headers = {
                k: v for k, v in (out.get("headers") or {}).items() if k.lower() not in HOP_HEADERS
            }
            return httpx.Response(
                int(out["status_code"]),
                headers=headers,
                content=encode_body(out.get("body")),
                request=request,
            )
        span.attributes[UNMATCHED_ATTRIBUTE] = True
        raise NoRecordedResponse(request.method, full_url)

    async def get(self, url: str | httpx.URL, **kwargs: Any) -> httpx.Response:
        return await self.request("GET", url, **kwargs)

    async def post(self, url: str | httpx.URL, **kwargs: Any) -> httpx.Response:
        return await self.request("POST", url, **kwargs)

    async def put(self, url: str | httpx.URL, **kwargs: Any) -> httpx.Response:
        return await self.request("PUT", url, **kwargs)

    async def patch(self, url: str | httpx.URL, **kwargs: Any) -> httpx.Response:
        return await self.request("PATCH", url, **kwargs)

    async def delete(self, url: str | httpx.URL, **kwargs: Any) -> httpx.Response:
        return await self.request("DELETE", url, **kwargs)
