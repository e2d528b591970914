"""Turning a recorded execution back into something to run: its HTTP request or its job.

An HTTP recording becomes a Starlette request with the recorded method, path, query, headers
and body (a JSON body is re-encoded as JSON, text is sent as it was), and then goes through the
gateway's own `http_invocation`, so a replayed request takes exactly the path a live one does.
A job recording becomes the `Job` its handler received and goes through the worker's
`job_invocation`. Both invocations are of kind `replay`, point at the original (so the ctx
services answer from the recording) and name it as their parent.
"""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.types import Message

from flux_lsp.model import Execution
from flux_lsp.runtime.bodies import HOP_HEADERS, encode_body
from flux_lsp.runtime.gateway import http_invocation
from flux_lsp.runtime.queue import Job
from flux_lsp.runtime.runtime import Invocation, Runtime
from flux_lsp.runtime.worker import job_invocation

REPLAY_KIND = "replay"


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def rebuild_request(original: Execution) -> Request:
    """A Starlette request equal to the recorded one (secret headers stay redacted)."""
    recorded = original.request or {}
    method = _text(recorded.get("method") or original.method).upper()
    path = _text(recorded.get("path") or original.path)
    query = recorded.get("query") or {}
    headers = {
        _text(k).lower(): _text(v)
        for k, v in (recorded.get("headers") or {}).items()
        if _text(k).lower() not in HOP_HEADERS
    }
    body = encode_body(recorded.get("body"))
    if body:
        headers["content-length"] = str(len(body))
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode("utf-8"),
        "root_path": "",
        "query_string": urlencode(query, doseq=True).encode("ascii")
        if isinstance(query, dict)
        else b"",
        "headers": [
            (k.encode("latin-1", "replace"), v.encode("latin-1", "replace"))
            for k, v in headers.items()
        ],
        "server": ("flux.replay", 80),
        "client": None,
    }
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(scope, receive)


def rebuild_job(original: Execution) -> Job:
    """The job a recorded job run was given: its id, data and attempt."""
    summary = original.job or {}
    data = (original.request or {}).get("data")
    return Job(
        id=_text(summary.get("id") or original.id),
        function=original.function,
        data=data,
        status="running",
        attempt=int(summary.get("attempt") or 1),
        max_attempts=int(summary.get("max_attempts") or 1),
        parent_id=original.parent_id,
    )


async def replay_invocation(runtime: Runtime, original: Execution) -> Invocation:
    """The invocation that runs `original` again on `runtime`."""
    link: dict[str, Any] = {"kind": REPLAY_KIND, "original": original, "parent_id": original.id}
    if original.kind == "job":
        return dataclasses.replace(job_invocation(rebuild_job(original)), **link)
    return await http_invocation(rebuild_request(original), runtime, original.function, **link)
