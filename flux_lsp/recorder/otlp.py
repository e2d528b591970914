"""Recorded executions as OpenTelemetry spans: the OTLP protobuf messages the exporter sends.

Each execution becomes one span per recorded span: the root (`gateway`, `queue.dispatch`) with
the other top-level stages (`function`, `response`) under it, and each call (`db.*`,
`http.request`, `email.send`, `queue.enqueue`, …) under the span it was made in. Span ids are
`model.otel_span_id`, the same ids `ctx.http` put in `traceparent`. Each span has its start and
end times, its error as the span status plus an `exception` event on the span that raised, and
attributes after the OpenTelemetry semantic conventions (`http.request.method`, `url.path`,
`http.response.status_code`, `db.system`, `db.collection.name`, `db.operation.name`,
`faas.trigger`, `messaging.*` for jobs, `code.filepath`/`code.lineno`). The recorder keeps its
richer records; only attributes leave, and records are redacted before they reach the
recorder, so nothing redacted is exported. Replays are never exported. Pure: records (the
JSON dicts of the wire form) in, messages out; uses the opentelemetry-proto classes.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ScopeSpans, Span, Status

from flux_lsp.model import otel_span_id

SCOPE = "flux"
NOT_EXPORTED_KINDS = ("replay",)

_KINDS = {
    "http.request": Span.SPAN_KIND_CLIENT,
    "queue.enqueue": Span.SPAN_KIND_PRODUCER,
}


def _value(value: Any) -> AnyValue | None:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, str):
        return AnyValue(string_value=value)
    return None


_KEY_VALUES: dict[tuple[str, type, Any], KeyValue] = {}
"""Attribute messages already built: most pairs repeat from span to span (`db.system`,
a table, a function, a path), and copying a message is cheaper than building one."""
KEY_VALUE_CACHE = 4096


def _attributes(values: dict[str, Any]) -> list[KeyValue]:
    out = []
    cache = _KEY_VALUES
    for key, value in values.items():
        kind = type(value)
        if kind not in (str, int, float, bool):
            continue
        kv = cache.get((key, kind, value))
        if kv is None:
            any_value = _value(value)
            if any_value is None:
                continue
            kv = KeyValue(key=key, value=any_value)
            if len(cache) >= KEY_VALUE_CACHE:
                cache.clear()
            cache[(key, kind, value)] = kv
        out.append(kv)
    return out


def exported(record: dict[str, Any]) -> bool:
    return record.get("kind") not in NOT_EXPORTED_KINDS


_PER_EXECUTION = ("flux.execution.id", "messaging.message.id")
"""Root attributes that differ in every execution: set on each root span, never templated."""


def _root_attributes(record: dict[str, Any]) -> dict[str, Any]:
    """The root span's attributes that follow from the execution, but for `_PER_EXECUTION`."""
    attrs: dict[str, Any] = {"faas.name": record["function"]}
    if record["kind"] == "job":
        attrs.update(
            {
                "faas.trigger": "pubsub",
                "messaging.system": "flux",
                "messaging.operation.type": "process",
                "messaging.destination.name": record["function"],
            }
        )
    else:
        attrs.update(
            {
                "faas.trigger": "http",
                "http.request.method": record["method"],
                "url.path": record["path"],
            }
        )
        if str(record["status"]).isdigit():
            attrs["http.response.status_code"] = int(record["status"])
    if record.get("code_version"):
        attrs["faas.version"] = record["code_version"]
    return attrs


def _span_name(record: dict[str, Any], span: dict[str, Any], root: bool) -> str:
    name: str = span["name"]
    attrs = span.get("attributes") or {}
    if root:
        if record["kind"] == "job":
            return f"process {record['function']}"
        return f"{record['method']} {record['path']}"
    if name == "function":
        return str(attrs.get("code.function.name") or record["function"])
    if name.startswith("db.") and attrs.get("db.collection.name"):
        return f"{name} {attrs['db.collection.name']}"
    return name


def _deepest_errors(spans: Sequence[dict[str, Any]]) -> set[int]:
    """The failed spans none of whose children failed: where the exception was raised."""
    failed = {s["id"] for s in spans if s.get("status") == "error"}
    parents = {s.get("parent") for s in spans if s["id"] in failed}
    return failed - parents


_TEMPLATES: dict[Hashable, bytes] = {}
"""Serialised `Span` messages holding what repeats from execution to execution (name, kind,
attributes), by what they are made from: each span is its ids and times, and one template
merged in, instead of a message and its attributes built anew in Python."""
TEMPLATE_CACHE = 4096


def _template(record: dict[str, Any], s: dict[str, Any], is_root: bool) -> bytes:
    """The serialised name, kind and attributes of span `s` of `record`."""
    attrs: dict[str, Any] = s.get("attributes") or {}
    key: Hashable
    if is_root:
        key = (
            *(record["kind"], record["function"], record.get("method"), record.get("path")),
            *(record.get("status"), record.get("code_version"), s["name"], s.get("file")),
            *(s.get("line"), *attrs.items()),
        )
    else:
        key = (s["name"], s.get("file"), s.get("line"), *attrs.items())
    try:
        cached = _TEMPLATES.get(key)
    except TypeError:  # a list or dict among the attributes (not exported): no template kept
        cached, key = None, None
    if cached is not None:
        return cached
    attrs = dict(attrs)
    if is_root:
        attrs.update(_root_attributes(record))
    if s["name"].startswith("db."):
        attrs.setdefault("db.system", "sqlite")
    if s.get("file"):
        attrs["code.filepath"] = s["file"]
        if s.get("line") is not None:
            attrs["code.lineno"] = s["line"]
    if is_root:
        kind = Span.SPAN_KIND_CONSUMER if record["kind"] == "job" else Span.SPAN_KIND_SERVER
    else:
        kind = _KINDS.get(s["name"], Span.SPAN_KIND_INTERNAL)
    template = Span(name=_span_name(record, s, is_root), kind=kind)
    template.attributes.extend(_attributes(attrs))
    data: bytes = template.SerializeToString()
    if key is not None:
        if len(_TEMPLATES) >= TEMPLATE_CACHE:
            del _TEMPLATES[next(iter(_TEMPLATES))]  # the oldest
        _TEMPLATES[key] = data
    return data


def _set_string(span: Span, key: str, value: str) -> None:
    kv = span.attributes.add()
    kv.key = key
    kv.value.string_value = value


def add_execution_spans(scope: ScopeSpans, record: dict[str, Any]) -> int:
    """Add the OTLP spans of one recorded execution (its wire-form dict) to `scope`; returns
    how many."""
    eid: str = record["id"]
    trace_id = bytes.fromhex(record.get("trace_id") or eid.rjust(32, "0"))
    start_ns = int(record["started_at"] * 1e9)
    spans: list[dict[str, Any]] = record.get("spans") or []
    error = record.get("error") or None
    raised_in = _deepest_errors(spans)
    root_id: int = spans[0]["id"] if spans else 0
    ids = {s["id"]: bytes.fromhex(otel_span_id(eid, s["id"])) for s in spans}
    for s in spans:
        begin = start_ns + int(s["start_ms"] * 1e6)
        end = begin + int(s["duration_ms"] * 1e6)
        is_root = s["id"] == root_id
        if is_root:
            parent = bytes.fromhex(record["trace_parent"]) if record.get("trace_parent") else b""
        else:  # the other top-level stages (function, response) are the root's children
            parent_index = s["parent"] if s.get("parent") is not None else root_id
            parent = ids.get(parent_index) or bytes.fromhex(otel_span_id(eid, parent_index))
        span = scope.spans.add(
            trace_id=trace_id,
            span_id=ids[s["id"]],
            parent_span_id=parent,
            start_time_unix_nano=begin,
            end_time_unix_nano=end,
        )
        span.MergeFromString(_template(record, s, is_root))
        if is_root:
            _set_string(span, "flux.execution.id", eid)
            job = record.get("job") or {}
            if record["kind"] == "job" and job.get("id"):
                _set_string(span, "messaging.message.id", str(job["id"]))
            if record.get("trace_state"):
                span.trace_state = record["trace_state"]
        if s.get("status") == "error":
            span.status.CopyFrom(
                Status(code=Status.STATUS_CODE_ERROR, message=s.get("error") or "")
            )
            if s["id"] in raised_in:
                span.events.append(_exception_event(s, error, end))
        if is_root and record.get("trace_link"):
            link = record["trace_link"]
            span.links.append(
                Span.Link(
                    trace_id=bytes.fromhex(link["trace_id"]),
                    span_id=bytes.fromhex(link["span_id"]),
                    trace_state=link.get("trace_state") or "",
                    attributes=_attributes({"flux.link": "enqueued_by"}),
                )
            )
    return len(spans)


def _exception_event(span: dict[str, Any], error: dict[str, Any] | None, at: int) -> Span.Event:
    attrs: dict[str, Any] = {"exception.message": span.get("error") or ""}
    if error is not None:
        attrs["exception.type"] = error.get("type") or ""
        attrs["exception.message"] = error.get("message") or attrs["exception.message"]
        location = error.get("location") or {}
        if location.get("file"):
            attrs["code.filepath"] = location["file"]
            attrs["code.lineno"] = location.get("line") or 0
    return Span.Event(time_unix_nano=at, name="exception", attributes=_attributes(attrs))


def export_request(
    records: Iterable[dict[str, Any]], service_name: str, version: str = ""
) -> tuple[ExportTraceServiceRequest, int]:
    """One `ExportTraceServiceRequest` for `records` (replays left out), and its span count."""
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.extend(
        _attributes({"service.name": service_name, "telemetry.sdk.name": "flux"})
    )
    scope = resource_spans.scope_spans.add(scope=InstrumentationScope(name=SCOPE, version=version))
    count = 0
    for record in records:
        if exported(record):
            count += add_execution_spans(scope, record)
    return request, count
