"""`CommandAnswer`: what every Flux `workspace/executeCommand` answers, declared once.

`{"kind": "why", "execution_id": "7c8d9e0f…" | null, "report": REPORT, "markdown": "...",
"document": "file:///…/why-7c8d9e0f.md" | null, "execution": EXECUTION | null}`: the report is
one of the reports of `report_schema.REPORTS`; the editor renders its fields and never parses
the Markdown, which is for clients that show text. Imports nothing from Flux.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class CommandAnswer:
    """The answer of a Flux command: its report, and the report as Markdown."""

    kind: str
    """The command's kind: `why`, `trace`, `traceDiff`, `tail`, `failures`, `replay`, ..."""
    execution_id: str | None
    report: Any
    markdown: str
    document: str | None = None
    """The Markdown's file, written for a client that does not render reports itself."""
    execution: Any = None
    """`flux.trace` only: the recorded execution with every span, for clients that draw their
    own view."""
