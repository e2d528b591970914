"""The shared vocabulary of Flux: executions, spans, mutations, errors and locations.

Every layer speaks in these records. They are plain dataclasses: `encode.to_json` turns them
into JSON-ready dicts and `from_dict` reads them back, which is how the recorder stores them and
how the remote API and the language server ship them. This module imports nothing from Flux.

They are not slotted on purpose: orjson serialises a dataclass that has a `__dict__` about
three times as fast as a slotted one, and the recorder encodes one `Execution` per request.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import cache
from typing import Any, Self, TypeVar

JSON = Any
"""A JSON-ready value: dict, list, str, int, float, bool or None."""
T = TypeVar("T")

SHORT_ID_LENGTH = 8


def new_execution_id() -> str:
    """A random 64-bit id as 16 lowercase hex digits."""
    return secrets.token_hex(8)


def new_trace_id() -> str:
    """A random W3C trace id: 128 bits as 32 lowercase hex digits."""
    return secrets.token_hex(16)


def otel_span_id(execution_id: str, span: int) -> str:
    """The W3C/OpenTelemetry span id (16 hex digits) of span number `span` of an execution.

    Derived, not stored: the `traceparent` that `ctx.http` sends and the spans the recorder
    exports name the same span without the record carrying a second id per span.
    """
    digest = hashlib.blake2b(f"{execution_id}/{span}".encode(), digest_size=8).hexdigest()
    return digest if digest != "0" * 16 else "0" * 15 + "1"


def short_id(execution_id: str) -> str:
    """The form users see: `req:` and the first 8 hex digits."""
    return f"req:{execution_id[:SHORT_ID_LENGTH]}"


def file_label(file: str, line: int) -> str:
    """`stripe_webhook.py:6`: a place in user code as the seed prints it (file name, line)."""
    return f"{file.rsplit('/', 1)[-1]}:{line}"


def request_label(kind: str, function: str, method: str, path: str) -> str:
    """`POST /stripe_webhook`, or `JOB send_onboarding_email`: the request a replay line names."""
    return f"JOB {function}" if kind == "job" else f"{method} {path}"


def carried(cls: type[T], source: object, **values: Any) -> T:
    """A `cls` made of `values`, its other fields carried over from the attributes of the same
    name on `source` (a view of a record declares only what it does not take as it is)."""
    names = [f.name for f in fields(cls) if f.name not in values]  # type: ignore[arg-type]
    return cls(**values, **{name: getattr(source, name) for name in names if hasattr(source, name)})


def describe_where(where: Mapping[str, Any]) -> str:
    """`customer_id = 'cus_ABC' AND plan = 'pro'`: a row lookup as Flux prints it everywhere."""
    parts = []
    for key, value in where.items():
        if value is None:
            parts.append(f"{key} IS NULL")
        elif isinstance(value, str):
            parts.append(f"{key} = '{value}'")
        else:
            parts.append(f"{key} = {value}")
    return " AND ".join(parts) or "(all rows)"


def normalize_id(text: str) -> str:
    """Accept `req:7c8d9e0f`, `7C8D9E0F` or a prefix; return the bare lowercase hex part."""
    text = text.strip().lower()
    if text.startswith("req:"):
        text = text[4:]
    return text


@cache
def _field_names(cls: type) -> frozenset[str]:
    """The names of the fields of a dataclass type, looked up once."""
    return frozenset(f.name for f in fields(cls))


def from_fields(cls: type[T], data: Mapping[str, JSON], **values: Any) -> T:
    """A `cls` read back from its JSON `data`: each field from the key of its name (None, or
    no key: the field's default), keys that are no field (derived values) left out, and the
    `values` the caller decoded itself (fields that hold other records)."""
    names = _field_names(cls)  # type: ignore[arg-type]
    given = {k: v for k, v in data.items() if v is not None and k in names}
    given.update(values)
    return cls(**given)


class Plain:
    """A record whose JSON is its fields as they are: `from_dict` is its constructor."""

    @classmethod
    def from_dict(cls, data: dict[str, JSON]) -> Self:
        return cls(**data)


@dataclass
class CodeSpan(Plain):
    """A place in user code: file relative to the project, 1-based lines, 0-based columns, as
    the editor's ranges."""

    file: str
    line: int
    col: int | None = None
    end_line: int | None = None
    end_col: int | None = None
    function: str | None = None
    source_line: str | None = None

    @property
    def label(self) -> str:
        """`stripe_webhook.py:6`, the form the seed prints."""
        return file_label(self.file, self.line)


@dataclass
class Location(CodeSpan):
    """A place in user code with the lines around it, as an error records it."""

    context: list[str] = field(default_factory=list)
    context_start: int | None = None
    """1-based line number of `context[0]`; the context is 3 lines each side of `line`."""


@dataclass
class ErrorInfo:
    """Why an execution failed, and where in user code."""

    type: str
    message: str
    location: Location | None = None
    frames: list[Location] = field(default_factory=list)
    locals: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, JSON]) -> ErrorInfo:
        loc = data.get("location")
        return from_fields(
            cls,
            data,
            location=Location.from_dict(loc) if loc else None,
            frames=[Location.from_dict(f) for f in data.get("frames") or []],
        )


@dataclass
class Span(Plain):
    """One timed step of an execution.

    `name` is the kind of step (`gateway`, `function`, `db.update`, `email.send`, ...);
    `start_ms` is the offset from the execution's start. `status` is `ok`, `error`, or
    `skipped` (a step that never ran because an earlier one failed).
    """

    id: int
    name: str
    parent: int | None = None
    start_ms: float = 0.0
    duration_ms: float = 0.0
    status: str = "ok"
    attributes: dict[str, JSON] = field(default_factory=dict)
    input: JSON = None
    output: JSON = None
    error: str | None = None
    file: str | None = None
    line: int | None = None

    @property
    def label(self) -> str:
        """How the seed names a step: the function's name, or `db.query(users)`."""
        if self.name == "function":
            return str(self.attributes.get("code.function.name", "function"))
        table = self.attributes.get("db.collection.name")
        if table:
            return f"{self.name}({table})"
        return self.name


@dataclass
class LogEntry(Plain):
    """One line a handler printed or logged while it ran."""

    at_ms: float
    """Milliseconds after the execution started."""
    stream: str
    """`stdout` or `stderr` (print), or `log` (the logging module)."""
    message: str
    level: str | None = None
    """For `log`: `INFO`, `WARNING`, ..."""
    logger: str | None = None
    """For `log`: the logger's name."""

    @property
    def source(self) -> str:
        """What a line is labelled with: its level for a log record, else its stream."""
        return self.level or self.stream


@dataclass
class Mutation(Plain):
    """One insert, update or delete made by an execution, with the row before and after."""

    execution_id: str
    seq: int
    table: str
    op: str
    """`insert`, `update` or `delete`."""
    pk: str | None
    before: dict[str, JSON] | None
    after: dict[str, JSON] | None
    rows_affected: int
    at: float
    """Wall-clock time (epoch seconds) of the write."""
    where: dict[str, JSON] | None = None

    @property
    def changed_fields(self) -> dict[str, JSON]:
        """Fields whose value differs between before and after (all of `after` for inserts)."""
        before = self.before or {}
        after = self.after or {}
        return {k: v for k, v in after.items() if before.get(k) != v}


@dataclass
class Execution:
    """The complete record of one run of a function."""

    id: str
    kind: str
    """`http`, `job` or `replay`."""
    function: str
    method: str
    path: str
    status: str
    """The HTTP status as text (`"500"`), or `done` / `failed` for jobs."""
    started_at: float
    duration_ms: float
    request: dict[str, JSON] = field(default_factory=dict)
    response: dict[str, JSON] = field(default_factory=dict)
    error: ErrorInfo | None = None
    spans: list[Span] = field(default_factory=list)
    mutations: list[Mutation] = field(default_factory=list)
    code_version: str = ""
    parent_id: str | None = None
    ctx_values: list[JSON] = field(default_factory=list)
    """Time, random values and generated ids the handler took from `ctx`, in order."""
    job: dict[str, JSON] | None = None
    """For job runs: `{"id", "attempt", "max_attempts"}`."""
    logs: list[LogEntry] = field(default_factory=list)
    """What the handler printed and logged, in order (bounded, redacted)."""
    logs_cut: int = 0
    """Characters of output left out because the execution printed or logged too much."""
    trace_id: str = ""
    """The W3C trace this execution belongs to: the caller's (from `traceparent`) or its own."""
    trace_parent: str | None = None
    """The caller's span id, when the request came with a `traceparent`."""
    trace_state: str | None = None
    """The caller's `tracestate`, passed on with the trace."""
    trace_link: dict[str, JSON] | None = None
    """For a job: `{"trace_id", "span_id"}` of the execution that enqueued it."""

    @property
    def short_id(self) -> str:
        return short_id(self.id)

    @property
    def failed(self) -> bool:
        if self.kind == "job" or self.status in ("done", "failed"):
            return self.status == "failed"
        return self.status.isdigit() and int(self.status) >= 500

    @property
    def is_client_error(self) -> bool:
        return self.status.isdigit() and 400 <= int(self.status) < 500

    @classmethod
    def from_dict(cls, data: dict[str, JSON]) -> Execution:
        err = data.get("error")
        return from_fields(
            cls,
            data,
            status=str(data["status"]),
            error=ErrorInfo.from_dict(err) if err else None,
            spans=_spans(data),
            mutations=[Mutation.from_dict(m) for m in data.get("mutations") or []],
            logs=[LogEntry.from_dict(e) for e in data.get("logs") or []],
        )


INPUT_IS_REQUEST_BODY = "flux.input.request_body"
"""A function span attribute: its input is the request's body, stored once, in the request."""


def _spans(data: dict[str, Any]) -> list[Span]:
    """The spans of a record, the function's input read back from the request where shared."""
    spans = [Span.from_dict(s) for s in data.get("spans") or []]
    for span in spans:
        if span.attributes.pop(INPUT_IS_REQUEST_BODY, False):
            request = data.get("request") or {}
            span.input = request.get("body") if isinstance(request, dict) else None
    return spans
