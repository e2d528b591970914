"""Finding a recorded failure's place in the code as it is now.

A failure was recorded against the file as it was then: a line, a column range, the source
line and three lines of context on each side. The document open in the editor may have
changed since. `anchor` finds where that source line is now: at the recorded line (exact),
somewhere nearby where the recorded context agrees (moved), or nowhere (changed): then the
result points at the enclosing function's `def` so the editor can say the code changed since
it was recorded, and no unrelated line is ever marked. Pure: text in, positions out.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from flux_lsp.model import Location

MIN_UNIQUE_LINE = 8
"""A recorded line this long (stripped) that appears once is trusted without context."""


@dataclass(slots=True, frozen=True)
class Anchor:
    """Where a recorded location is in the current text: 0-based lines, 0-based columns."""

    status: str
    """`exact`, `moved` or `changed`."""
    start_line: int
    start_col: int
    end_line: int
    end_col: int

    @property
    def found(self) -> bool:
        return self.status != "changed"


def _indent(text: str) -> int:
    return len(text) - len(text.lstrip())


def _context_score(location: Location, lines: Sequence[str], index: int) -> int:
    """How many recorded context lines (other than the failing one) match around `index`."""
    if not location.context or location.context_start is None:
        return 0
    score = 0
    for k, recorded in enumerate(location.context):
        offset = location.context_start + k - location.line
        if offset == 0:
            continue
        j = index + offset
        if 0 <= j < len(lines) and lines[j].strip() == recorded.strip() and recorded.strip():
            score += 1
    return score


def _range_at(location: Location, lines: Sequence[str], index: int, status: str) -> Anchor:
    """The recorded column range placed with its first line at `index`."""
    recorded = location.source_line or ""
    current = lines[index]
    shift = _indent(current) - _indent(recorded) if recorded else 0
    if location.col is None:
        start_col = _indent(current)
        end_line, end_col = index, len(current.rstrip())
    else:
        start_col = max(0, location.col + shift)
        span = (location.end_line or location.line) - location.line
        end_line = min(len(lines) - 1, index + max(0, span))
        end_col = location.end_col if location.end_col is not None else len(lines[end_line])
        if end_line == index:
            end_col += shift
        end_col = max(0, min(end_col, len(lines[end_line])))
        start_col = min(start_col, len(current))
        if end_line == index and end_col <= start_col:
            end_col = len(current.rstrip())
    return Anchor(status, index, start_col, end_line, end_col)


_DEF = r"^\s*(?:async\s+)?def\s+{name}\b"


def enclosing_function_anchor(function: str | None, lines: Sequence[str]) -> Anchor:
    """The `def` line of `function` in `lines` (the name's columns), or the file's start."""
    if function:
        pattern = re.compile(_DEF.format(name=re.escape(function)))
        for index, text in enumerate(lines):
            if pattern.match(text):
                col = text.index(function, text.index("def"))
                return Anchor("changed", index, col, index, col + len(function))
    return Anchor("changed", 0, 0, 0, 0)


def anchor(location: Location, lines: Sequence[str]) -> Anchor:
    """Where `location` (recorded) is in `lines` (the document now)."""
    recorded_index = location.line - 1
    source = (location.source_line or "").strip()
    if not source:
        if 0 <= recorded_index < len(lines):
            return _range_at(location, lines, recorded_index, "exact")
        return enclosing_function_anchor(location.function, lines)
    candidates = [i for i, text in enumerate(lines) if text.strip() == source]
    if not candidates:
        return enclosing_function_anchor(location.function, lines)
    scored = sorted(
        candidates,
        key=lambda i: (-_context_score(location, lines, i), abs(i - recorded_index)),
    )
    best = scored[0]
    best_score = _context_score(location, lines, best)
    if best == recorded_index:
        return _range_at(location, lines, best, "exact")
    unique = len(candidates) == 1 and len(source) >= MIN_UNIQUE_LINE
    if best_score > 0 or unique:
        return _range_at(location, lines, best, "moved")
    return enclosing_function_anchor(location.function, lines)
