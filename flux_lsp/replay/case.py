"""A regression case: one recorded scenario saved as a JSON file under `tests/flux/`.

A case is self-contained: it runs on a fresh database made from the project's migrations, with
no recorder and no network. It holds
- `rows`: the app rows the scenario read and the before-images of the rows it changed, as they
  were when the scenario started (redacted; placeholders listed in `redacted`);
- `steps`: the recorded executions to run again, in order — the earlier ones that share a key
  with the subject (`setup`: the signup that should have created the row) and the `subject`;
  each with its request or job input, the time, random values and ids it took from `ctx`, the
  recorded outbound HTTP responses, and the Stripe check's recorded outcome;
- `expect`: what the subject must do now (see `replay.expect`), and `noise`: what to ignore.

Why JSON and not YAML: the standard library reads it (no dependency for users' CI), a parse
error names the exact line and column, and values round-trip exactly — YAML's implicit typing
would turn a recorded `no`, `010` or `2026-03-10` into a boolean, an octal number or a date.

`step_execution` turns a step back into the `Execution` replay runs against: the ctx services
answer from it exactly as they answer from a recording. `flux_case` is the format version;
`made_by` names the Flux that wrote the file, so a file from a newer Flux says so when it
cannot be read.

May import `flux_lsp.model`, `flux_lsp.runtime`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flux_lsp import __version__
from flux_lsp.model import JSON, Execution, Span, request_label
from flux_lsp.runtime.http_client import SPAN_NAME as HTTP_SPAN
from flux_lsp.runtime.stripe import VERIFY_SPAN

CASE_FORMAT = 1
"""The format this Flux writes. Older formats are upgraded on load (`_UPGRADES`)."""
CASE_SUFFIX = ".json"
CASES_DIR = Path("tests") / "flux"
"""Where `flux test add` writes, relative to the project; `flux test` reads it by default (the
pytest plugin, which imports Flux lazily, spells it `("tests", "flux")`)."""
SETUP, SUBJECT = "setup", "subject"


class CaseError(Exception):
    """A case file that cannot be read: its path, and the line when one is to blame."""

    def __init__(self, path: Path | str, message: str, line: int | None = None) -> None:
        self.path = str(path)
        self.line = line
        self.reason = message
        super().__init__(self.at(self.path))

    def at(self, shown_path: str) -> str:
        """`tests/flux/x.json:4: not valid JSON: ...`, with the path written as given."""
        return (
            f"{shown_path}:{self.line}: {self.reason}"
            if self.line
            else f"{shown_path}: {self.reason}"
        )


@dataclass(slots=True)
class OutboundCall:
    """One recorded `ctx.http` call and the answer it got (`response` None: it failed)."""

    method: str
    url: str
    body: JSON = None
    response: dict[str, JSON] | None = None
    """`{"status_code", "headers", "body"}` as recorded."""
    error: str | None = None


@dataclass(slots=True)
class Step:
    """One execution of the scenario, as recorded."""

    role: str
    """`setup` (run to rebuild the state) or `subject` (the one the expectations are about)."""
    execution_id: str
    kind: str
    function: str
    method: str
    path: str
    status: str
    """The recorded status (shown in reports; the subject's expectation is in `expect`)."""
    started_at: float
    request: dict[str, JSON] = field(default_factory=dict)
    values: list[JSON] = field(default_factory=list)
    """Time, random values and ids the handler took from ctx, in order."""
    http: list[OutboundCall] = field(default_factory=list)
    stripe: dict[str, JSON] | None = None
    """`{"verified": bool, "error": str | None}` when the handler checked a Stripe signature."""
    job: dict[str, JSON] | None = None
    parent_id: str | None = None
    inserted: dict[str, list[str]] = field(default_factory=dict)
    """The ids of the rows it inserted, by table: a re-run may be given other ids, and later
    steps' inputs and the expectation then follow the new ones."""

    @property
    def target(self) -> str:
        """`POST /stripe_webhook`, or `JOB send_onboarding_email`."""
        return request_label(self.kind, self.function, self.method, self.path)


@dataclass(slots=True)
class Noise:
    """What the comparison ignores (Keploy's noise): ids, timestamps, and listed fields."""

    fields: list[str] = field(default_factory=list)
    """`body.token`, `mutations.users.created_at`, or a bare field name such as `created_at`."""
    generated_ids: bool = True
    """Ids the database generated for inserted rows compare by position (`<users id 1>`)."""
    timestamps: bool = True
    """ISO-8601 date-times compare equal to any other date-time."""


@dataclass(slots=True)
class Case:
    """A whole case file."""

    name: str
    function: str
    steps: list[Step]
    expect: dict[str, JSON]
    rows: dict[str, list[dict[str, JSON]]] = field(default_factory=dict)
    noise: Noise = field(default_factory=Noise)
    redacted: list[str] = field(default_factory=list)
    """Paths of values kept as `[redacted]` placeholders (the secret itself is never stored)."""
    source: dict[str, JSON] = field(default_factory=dict)
    """Where the case came from: the recorded execution, its time, its code version."""
    flux_case: int = CASE_FORMAT
    made_by: str = f"Flux {__version__}"
    path: str | None = None
    """The file it was read from (not written)."""

    @property
    def subject(self) -> Step:
        return next((s for s in self.steps if s.role == SUBJECT), self.steps[-1])


def step_execution(step: Step) -> Execution:
    """The recorded execution a step stands for, as replay's ctx services read it."""
    spans: list[Span] = []
    if step.stripe is not None:
        failed = not step.stripe.get("verified", True)
        error = step.stripe.get("error")
        spans.append(
            Span(
                id=len(spans),
                name=VERIFY_SPAN,
                status="error" if failed else "ok",
                error=str(error) if failed and error else None,
            )
        )
    for call in step.http:
        spans.append(
            Span(
                id=len(spans),
                name=HTTP_SPAN,
                input={"method": call.method, "url": call.url, "body": call.body},
                output=call.response,
                status="ok" if call.response is not None else "error",
                error=call.error,
            )
        )
    return Execution(
        id=step.execution_id,
        kind=step.kind,
        function=step.function,
        method=step.method,
        path=step.path,
        status=step.status,
        started_at=step.started_at,
        duration_ms=0.0,
        request=step.request,
        spans=spans,
        ctx_values=list(step.values),
        job=step.job,
        parent_id=step.parent_id,
    )


# -- writing --------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """Dataclasses as dicts in field order (the file reads top-down: what, then how)."""
    if hasattr(value, "__dataclass_fields__"):
        return {
            name: _plain(getattr(value, name))
            for name in value.__dataclass_fields__
            if not (name == "path" and isinstance(value, Case))
        }
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


FILE_ORDER = ("flux_case", "made_by", "name", "function", "source", "expect", "noise", "redacted")
"""The keys a case file starts with — what it is and what it expects — before its data."""


def dump_case(case: Case) -> str:
    """The file text: indented JSON, the format version and the expectation first."""
    data = _plain(case)
    ordered = {key: data.pop(key) for key in FILE_ORDER}
    return json.dumps({**ordered, **data}, indent=2, ensure_ascii=False, default=str) + "\n"


def slug(text: str) -> str:
    """A file-name-safe form of a case name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._") or "case"


# -- reading --------------------------------------------------------------------------------


def _line_of(text: str, key: str) -> int | None:
    """The line of the first `"key":` in the text (to point at a field that is wrong)."""
    match = re.search(rf'"{re.escape(key)}"\s*:', text)
    return text.count("\n", 0, match.start()) + 1 if match else None


_UPGRADES: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}
"""Format N → N+1 converters, applied in turn to files an older Flux wrote."""


class _Reader:
    """Typed access to the parsed document, failing with the file and the field's line."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.text = text

    def fail(self, message: str, key: str | None = None) -> CaseError:
        return CaseError(self.path, message, _line_of(self.text, key) if key else None)

    def get(self, data: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
        if key not in data:
            raise self.fail(f"{where} has no {key!r}", None)
        value = data[key]
        if not isinstance(value, kind):
            names = (
                kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            )
            raise self.fail(f"{where}.{key} must be {names}", key)
        return value

    def step(self, data: Any, n: int) -> Step:
        where = f"steps[{n}]"
        if not isinstance(data, dict):
            raise self.fail(f"{where} must be an object", "steps")
        calls = []
        for call in data.get("http") or []:
            if not isinstance(call, dict) or "method" not in call or "url" not in call:
                raise self.fail(f"{where}.http entries need a method and a url", "http")
            calls.append(
                OutboundCall(
                    method=str(call["method"]),
                    url=str(call["url"]),
                    body=call.get("body"),
                    response=call.get("response"),
                    error=call.get("error"),
                )
            )
        return Step(
            role=str(data.get("role") or SUBJECT),
            execution_id=str(data.get("execution_id") or f"case{n:012d}"),
            kind=str(data.get("kind") or "http"),
            function=self.get(data, "function", str, where),
            method=str(data.get("method") or "POST"),
            path=str(data.get("path") or f"/{data['function']}"),
            status=str(data.get("status") or ""),
            started_at=float(data.get("started_at") or 0.0),
            request=dict(data.get("request") or {}),
            values=list(data.get("values") or []),
            http=calls,
            stripe=data.get("stripe"),
            job=data.get("job"),
            parent_id=data.get("parent_id"),
            inserted={
                str(t): [str(i) for i in ids]
                for t, ids in (data.get("inserted") or {}).items()
                if isinstance(ids, list)
            },
        )


def parse_case(text: str, path: Path | str = "<case>") -> Case:
    """A case from its file text; `CaseError` with the path and line when it cannot be read."""
    path = Path(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CaseError(
            path, f"not valid JSON: {exc.msg} (column {exc.colno})", exc.lineno
        ) from None
    reader = _Reader(path, text)
    if not isinstance(data, dict):
        raise CaseError(path, "a case file holds one JSON object", 1)
    version = data.get("flux_case")
    made_by = str(data.get("made_by") or "an unknown Flux")
    if not isinstance(version, int) or isinstance(version, bool):
        raise reader.fail("not a Flux case: no integer 'flux_case' format version", "flux_case")
    if version > CASE_FORMAT or (version < CASE_FORMAT and version not in _UPGRADES):
        raise reader.fail(
            f"made by {made_by} (case format {version}); Flux {__version__} reads case "
            f"format {min([CASE_FORMAT, *_UPGRADES])} to {CASE_FORMAT}"
            + (": upgrade Flux to run it" if version > CASE_FORMAT else ""),
            "flux_case",
        )
    while version < CASE_FORMAT:
        data = _UPGRADES[version](data)
        version += 1
    steps_data = reader.get(data, "steps", list, "the case")
    if not steps_data:
        raise reader.fail("the case has no steps", "steps")
    steps = [reader.step(s, n) for n, s in enumerate(steps_data)]
    expect = reader.get(data, "expect", dict, "the case") if "expect" in data else {}
    noise_data = data.get("noise") or {}
    if not isinstance(noise_data, dict):
        raise reader.fail("noise must be an object", "noise")
    fields = noise_data.get("fields") or []
    if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
        raise reader.fail("noise.fields must be a list of field names", "fields")
    rows = data.get("rows") or {}
    if not isinstance(rows, dict) or not all(
        isinstance(v, list) and all(isinstance(r, dict) for r in v) for v in rows.values()
    ):
        raise reader.fail("rows must map table names to lists of rows", "rows")
    subject = next((s for s in steps if s.role == SUBJECT), steps[-1])
    return Case(
        name=str(data.get("name") or path.stem),
        function=str(data.get("function") or subject.function),
        steps=steps,
        expect=expect,
        rows=rows,
        noise=Noise(
            fields=list(fields),
            generated_ids=bool(noise_data.get("generated_ids", True)),
            timestamps=bool(noise_data.get("timestamps", True)),
        ),
        redacted=[str(p) for p in data.get("redacted") or []],
        source=dict(data.get("source") or {}),
        flux_case=CASE_FORMAT,
        made_by=made_by,
        path=str(path),
    )


def load_case(path: Path) -> Case:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CaseError(path, f"cannot read: {exc}") from None
    return parse_case(text, path)


def find_cases(paths: list[Path]) -> list[Path]:
    """Every case file under `paths` (folders searched recursively), in a stable order."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob(f"*{CASE_SUFFIX}") if p.is_file()))
        elif path.exists():
            found.append(path)
    return found
