"""`InputSummary`: the fields of an execution's input that matter, with the missing ones named.

A Stripe event is summarised as its type and the `data.object` fields the failing code used
(found among the failing frame's locals, the error message and the failed lookup), a job as its
`data`, and a JSON body as its scalar fields. A validation error's message is matched against
the failing code's source to name the field that was missing (`← email was missing`); a
`KeyError`, a division by zero or a `None` in the failure mark the field that caused it.

JSON shape (`encode.to_json(summary)`):

    {"kind": "stripe_event" | "job" | "body" | "text" | "none",
     "heading": "Stripe event: payment_intent.succeeded" | null,
     "fields": [{"name": "customer_id", "value": "cus_ABC", "note": null}, ...],
     "missing": ["email"],
     "text": "{ name: 'Alice' }"}
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

from flux_lsp.analysis.values import compact
from flux_lsp.model import JSON, ErrorInfo, Execution

MAX_FIELDS = 8
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_KEY_ERROR = re.compile(r"^['\"]([^'\"]+)['\"]$")
_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "or",
        "the",
        "is",
        "are",
        "be",
        "must",
        "not",
        "no",
        "required",
        "missing",
        "invalid",
        "empty",
        "field",
        "fields",
        "value",
        "values",
        "provided",
        "given",
        "needed",
        "need",
        "please",
        "should",
        "cannot",
        "can't",
        "only",
        "with",
        "without",
        "of",
        "for",
        "to",
        "in",
        "on",
        "at",
        "by",
        "as",
    ]
)


@dataclass(slots=True)
class InputField:
    name: str
    value: JSON
    note: str | None = None
    """Why this field is marked: `zero` (a division by zero), `null` (a None failed)."""


@dataclass(slots=True)
class InputSummary:
    kind: str
    heading: str | None = None
    fields: list[InputField] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    derived: ClassVar[tuple[str, ...]] = ("text",)

    @property
    def values(self) -> dict[str, JSON]:
        return {f.name: f.value for f in self.fields}

    @property
    def text(self) -> str:
        return compact(self.values) if self.fields else ""


def input_value(execution: Execution) -> JSON:
    """The payload a handler received: the request body, or a job's data."""
    if execution.kind == "job":
        for key in ("data", "body"):
            if key in execution.request:
                return execution.request[key]
        if execution.job and "data" in execution.job:
            return execution.job["data"]
    return execution.request.get("body")


def stripe_event(body: JSON) -> dict[str, Any] | None:
    """The body when it is a Stripe event (`type` and `data.object`), else None."""
    if not isinstance(body, dict) or not isinstance(body.get("type"), str):
        return None
    data = body.get("data")
    if isinstance(data, dict) and isinstance(data.get("object"), dict):
        return body
    return None


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _referenced_names(execution: Execution) -> set[str]:
    """Names the failure points at: the failing frame's locals, words of the error, lookups."""
    names: set[str] = set()
    err = execution.error
    if err is not None:
        names.update(err.locals)
        names.update(_WORD.findall(err.message))
    for m in execution.mutations:
        if m.rows_affected == 0 and m.where:
            names.update(m.where)
    return names


def _referenced_values(execution: Execution) -> set[str]:
    values: set[str] = set()
    for m in execution.mutations:
        if m.rows_affected == 0 and m.where:
            values.update(str(v) for v in m.where.values())
    if execution.error is not None:
        values.update(execution.error.locals.values())
    return values


def _pick(obj: dict[str, Any], execution: Execution) -> list[InputField]:
    """The scalar fields of `obj` that the failure refers to, or the first few when none do."""
    names = _referenced_names(execution)
    values = _referenced_values(execution)
    scalars = [(k, v) for k, v in obj.items() if _scalar(v)]
    chosen = [
        InputField(k, v)
        for k, v in scalars
        if k in names or (isinstance(v, str) and v in values) or repr(v) in values
    ]
    if not chosen:
        chosen = [InputField(k, v) for k, v in scalars if k not in ("id", "object")][:4]
    return chosen[:MAX_FIELDS]


def _source_text(err: ErrorInfo) -> str:
    loc = err.location
    if loc is None:
        return ""
    return "\n".join(loc.context or ([loc.source_line] if loc.source_line else []))


def missing_fields(err: ErrorInfo | None, payload: JSON) -> list[str]:
    """Fields the error says were missing and the payload indeed lacks (or has empty)."""
    if err is None:
        return []
    present = payload if isinstance(payload, dict) else {}
    if err.type == "KeyError":
        match = _KEY_ERROR.match(err.message.strip())
        return [match.group(1)] if match and match.group(1) not in present else []
    if err.type != "ValidationError":
        return []
    source = _source_text(err)
    out: list[str] = []
    for word in _WORD.findall(err.message):
        if word.lower() in _STOPWORDS or word in out:
            continue
        if present.get(word) not in (None, "", [], {}):
            continue
        quoted = f'"{word}"' in source or f"'{word}'" in source
        if quoted or (source and re.search(rf"\b{re.escape(word)}\b", source)) or "_" in word:
            out.append(word)
    return out


def _mark(fields: list[InputField], err: ErrorInfo | None) -> None:
    """Note the field a division by zero or a None most likely came from."""
    if err is None:
        return
    for f in fields:
        if err.type == "ZeroDivisionError" and f.value == 0:
            f.note = "zero"
        elif f.value is None and "NoneType" in err.message:
            f.note = "null"


def summarize_input(execution: Execution) -> InputSummary:
    """The input fields that matter for this execution (and for its failure, if any)."""
    payload = input_value(execution)
    err = execution.error
    event = stripe_event(payload)
    if event is not None:
        obj = event["data"]["object"]
        summary = InputSummary(
            kind="stripe_event",
            heading=f"Stripe event: {event['type']}",
            fields=_pick(obj, execution),
            missing=missing_fields(err, obj),
        )
    elif isinstance(payload, dict):
        scalars = [InputField(k, v) for k, v in payload.items() if _scalar(v)]
        nested = [InputField(k, compact(v, 60)) for k, v in payload.items() if not _scalar(v)]
        summary = InputSummary(
            kind="job" if execution.kind == "job" else "body",
            fields=(scalars + nested)[:MAX_FIELDS],
            missing=missing_fields(err, payload),
        )
    elif payload is None or payload == "":
        summary = InputSummary(kind="none", missing=missing_fields(err, None))
    else:
        summary = InputSummary(kind="text", fields=[InputField("body", compact(payload, 80))])
    _mark(summary.fields, err)
    return summary
