"""The one JSON encoder of Flux's records and reports: any dataclass to JSON-ready values.

A dataclass encodes as its fields, in declaration order, followed by the computed values its
class names in `derived` (a `ClassVar` of property names: `short_id`, `text`, `started_at_iso`).
Field lists are never written out by hand: the dataclass declares them once, and the JSON
follows from the declaration.

- A field whose metadata holds `inline` (the execution summary every report carries) has its
  JSON merged into its owner's instead of nested under its name.
- Nested dataclasses, lists, tuples and dicts are encoded recursively; dict keys become text.
- A float whose name ends in `_ms` is a duration in milliseconds, given to the microsecond.
- Anything else that is not JSON (a `bytes`, a `datetime` passed through a span) becomes text.

Imports nothing from Flux: every layer may use it.
"""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from functools import cache
from typing import Any

JSON = Any
"""A JSON-ready value: dict, list, str, int, float, bool or None."""

DERIVED = "derived"
"""The class attribute naming a dataclass's computed JSON values (a tuple of property names)."""
INLINE_KEY = "inline"
INLINE = {INLINE_KEY: True}
"""`field(metadata=INLINE)`: the field's JSON is merged into its owner's."""
MS_DECIMALS = 3


@cache
def _names(cls: type) -> tuple[tuple[tuple[str, bool], ...], tuple[str, ...]]:
    """((field, inlined), ...) and the derived values of a dataclass type, looked up once."""
    names = tuple((f.name, bool(f.metadata.get(INLINE_KEY))) for f in fields(cls))
    return names, tuple(getattr(cls, DERIVED, ()))


def _value(name: str, value: Any) -> JSON:
    if isinstance(value, float) and name.endswith("_ms"):
        return round(value, MS_DECIMALS)
    return to_json(value)


def to_json(value: Any) -> JSON:
    """`value` (a report, a record, or anything inside one) as JSON-ready data."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if is_dataclass(value) and not isinstance(value, type):
        names, derived = _names(type(value))
        out: dict[str, JSON] = {}
        for name, inline in names:
            if inline:
                out.update(to_json(getattr(value, name)))
            else:
                out[name] = _value(name, getattr(value, name))
        for name in derived:
            out[name] = _value(name, getattr(value, name))
        return out
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    return str(value)
