"""W3C Trace Context: reading an incoming `traceparent`, and writing one for an outgoing call.

An HTTP request that carries a valid `traceparent` (`00-<32 hex trace id>-<16 hex span id>-
<flags>`) runs as part of that trace, with the caller's span as its parent; `tracestate` is kept
and passed on. An invalid header is ignored, as the specification asks: the execution starts
a trace of its own. Pure; imports only the model.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from flux_lsp.model import new_trace_id

_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$")
TRACESTATE_MAX = 512
"""The longest `tracestate` kept (the specification lets a vendor truncate)."""


@dataclass(slots=True, frozen=True)
class TraceContext:
    trace_id: str
    parent_span_id: str | None = None
    trace_state: str | None = None


def parse_traceparent(value: str | None) -> tuple[str, str] | None:
    """`(trace_id, parent_span_id)` of a valid `traceparent` header, else None."""
    if not value:
        return None
    match = _TRACEPARENT.match(value.strip().lower())
    if match is None:
        return None
    version, trace_id, span_id, _flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest):
        return None
    if trace_id == "0" * 32 or span_id == "0" * 16:
        return None
    return trace_id, span_id


def incoming(headers: Mapping[str, str]) -> TraceContext:
    """The trace an incoming request joins: the caller's, or a new one."""
    parsed = parse_traceparent(headers.get("traceparent"))
    if parsed is None:
        return TraceContext(new_trace_id())
    state = (headers.get("tracestate") or "").strip()[:TRACESTATE_MAX] or None
    return TraceContext(parsed[0], parsed[1], state)


def traceparent(trace_id: str, span_id: str) -> str:
    """The `traceparent` header for a call made from span `span_id` (sampled)."""
    return f"00-{trace_id}-{span_id}-01"
