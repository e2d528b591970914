"""The JSON Schema of the reports the editor consumes, derived from their dataclasses.

`python -m flux_lsp.lsp.report_schema` prints it. The VS Code extension's build turns it into
TypeScript types (`vscode-extension/scripts/schema-to-ts.mjs`), so a renamed or removed report
field fails the extension's type check instead of reaching a user.

The schema follows what `encode.to_json` writes: every field, in order, then the computed
values a class names in `derived` (typed by their property's return annotation), with an
inlined field's properties merged into its owner's. Every property is always present, so every
property is required. Imports the report modules of `analysis/` and `replay/`.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import types
import typing
from typing import Any

from flux_lsp.analysis.diff import TraceDiff
from flux_lsp.analysis.recent_failures import RecentFailures
from flux_lsp.analysis.tail import TailReport
from flux_lsp.analysis.trace_report import TraceReport
from flux_lsp.analysis.why import WhyReport
from flux_lsp.encode import DERIVED, INLINE_KEY
from flux_lsp.lsp.answer import CommandAnswer
from flux_lsp.replay.capture import SavedCase
from flux_lsp.replay.debug import DebugEndpoint
from flux_lsp.replay.report import ReplayReport
from flux_lsp.replay.sandbox import SandboxStats

REPORTS: tuple[type, ...] = (
    CommandAnswer,
    WhyReport,
    TraceReport,
    TraceDiff,
    TailReport,
    RecentFailures,
    ReplayReport,
    SavedCase,
    DebugEndpoint,
)
"""Every command's answer, and the reports the editor reads in it: `flux.why`, `flux.trace`,
`flux.traceDiff`, `flux.tail`, `flux.failures`, `flux.replay`, `flux.incidentReplay`,
`flux.saveRegressionTest` and `flux.debug`."""
_NAMES = {"SandboxStats": SandboxStats}
"""Names the report modules import for type checking only."""

Schema = dict[str, Any]


def _hints(owner: Any) -> dict[str, Any]:
    module = sys.modules[owner.__module__]
    return typing.get_type_hints(owner, globalns=vars(module), localns=_NAMES)


class _Builder:
    def __init__(self) -> None:
        self.defs: dict[str, Schema] = {}

    def schema_of(self, hint: Any) -> Schema:
        if hint is Any:
            return {}
        if hint is type(None):
            return {"type": "null"}
        simple = {str: "string", bool: "boolean", int: "integer", float: "number"}
        if hint in simple:
            return {"type": simple[hint]}
        if dataclasses.is_dataclass(hint) and isinstance(hint, type):
            self.add(hint)
            return {"$ref": f"#/$defs/{hint.__name__}"}
        origin, args = typing.get_origin(hint), typing.get_args(hint)
        if origin in (types.UnionType, typing.Union):
            return {"anyOf": [self.schema_of(a) for a in args]}
        if origin in (list, tuple):
            items = args[0] if args and (origin is list or args[-1] is Ellipsis) else Any
            return {"type": "array", "items": self.schema_of(items)}
        if origin is dict:
            return {"type": "object", "additionalProperties": self.schema_of(args[1])}
        raise TypeError(f"no JSON Schema for {hint!r}")

    def properties(self, cls: type) -> dict[str, Schema]:
        hints = _hints(cls)
        out: dict[str, Schema] = {}
        for f in dataclasses.fields(cls):
            if f.metadata.get(INLINE_KEY):
                out.update(self.properties(hints[f.name]))
            else:
                out[f.name] = self.schema_of(hints[f.name])
        for name in getattr(cls, DERIVED, ()):
            getter = getattr(cls, name).fget
            out[name] = self.schema_of(_hints(getter)["return"])
        return out

    def add(self, cls: type) -> None:
        if cls.__name__ in self.defs:
            return
        self.defs[cls.__name__] = {}  # placeholder: a class may refer to itself
        props = self.properties(cls)
        doc = cls.__doc__ or ""
        described = doc and not doc.startswith(f"{cls.__name__}(")
        self.defs[cls.__name__] = {
            "type": "object",
            "description": doc.strip().splitlines()[0] if described else cls.__name__,
            "properties": props,
            "required": list(props),
            "additionalProperties": False,
        }


def report_schema() -> Schema:
    builder = _Builder()
    for cls in REPORTS:
        builder.add(cls)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Flux reports",
        "description": "The reports the Flux language server sends the editor.",
        "$defs": dict(sorted(builder.defs.items())),
    }


def main() -> None:
    sys.stdout.write(json.dumps(report_schema(), indent=2) + "\n")


if __name__ == "__main__":
    main()
