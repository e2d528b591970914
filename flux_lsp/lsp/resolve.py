"""What is under the cursor: a function definition, a `ctx` service call, or a name string.

jedi resolves the names in the document (which function a `def` line defines, where `ctx` is
used); the extent of a call that spans several lines comes from the syntax tree, so hovering
any line of `await ctx.db.update(\\n ... )` finds the call. Results are cached per document
version, since hovers repeat on the same text.

jedi runs in one worker thread of its own, never on the event loop: `resolve` and
`definition_line` are awaited, a request cancelled meanwhile (`$/cancelRequest`) stops waiting
for it, and a document over `MAX_ANALYSED` characters is not analysed at all (its diagnostics
and their hovers come from the recorder and stay fast).
"""

from __future__ import annotations

import ast
import asyncio
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jedi

MAX_ANALYSED = 1_000_000
"""Characters beyond which a document gets no jedi or syntax-tree work."""
_WORKER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="flux-jedi")
CTX_CHAIN = re.compile(r"\bctx(?:\.[A-Za-z_]\w*)+")
_STRING = re.compile(r"""(["'])([A-Za-z_][\w.-]*)\1""")


@dataclass(slots=True, frozen=True)
class Span:
    """Where a target is: 0-based lines and characters, as an LSP range."""

    line: int
    col: int
    end_line: int
    end_col: int


@dataclass(slots=True, frozen=True)
class FunctionDef:
    """The cursor is on a `def` line: `name` is the function, `line` 1-based."""

    name: str
    line: int
    span: Span | None = None
    """The function's name on its `def` line."""


@dataclass(slots=True, frozen=True)
class CtxCall:
    """The cursor is on a `ctx.<service>.<method>(...)` call starting at `line` (1-based)."""

    label: str
    line: int
    span: Span | None = None
    """The whole call, from `ctx` to its closing parenthesis."""


@dataclass(slots=True, frozen=True)
class NameString:
    """The cursor is inside a string literal holding a name (`"send_onboarding_email"`)."""

    name: str


Target = FunctionDef | CtxCall | NameString | None


@dataclass(slots=True, frozen=True)
class _Names:
    defs: dict[int, tuple[str, int]]
    """1-based line → name of the function defined there, and the name's column."""
    ctx_lines: frozenset[int]
    """1-based lines where `ctx` is referenced."""
    calls: tuple[tuple[int, int, str, Span], ...]
    """(start line, end line, label, whole call) of each ctx call the syntax tree holds."""


def _column(lines: list[str], line: int, byte_offset: int) -> int:
    """The character column of a UTF-8 byte offset (what `ast` gives) on 0-based `line`."""
    text = lines[line] if 0 <= line < len(lines) else ""
    return len(text.encode("utf-8")[:byte_offset].decode("utf-8", errors="ignore"))


def _ctx_calls(text: str) -> tuple[tuple[int, int, str, Span], ...]:
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return ()
    lines = text.splitlines()
    out: list[tuple[int, int, str, Span]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            label = ast.unparse(node.func)
            if label.startswith("ctx."):
                end = node.end_lineno or node.lineno
                span = Span(
                    node.lineno - 1,
                    _column(lines, node.lineno - 1, node.col_offset),
                    end - 1,
                    _column(lines, end - 1, node.end_col_offset or node.col_offset),
                )
                out.append((node.lineno, end, label, span))
    return tuple(out)


_JEDI = threading.Lock()
"""jedi is not thread-safe: everything that calls it runs in `_WORKER`, under this lock."""


@lru_cache(maxsize=64)
def _names(text: str, path: str) -> _Names:
    with _JEDI:
        script = jedi.Script(code=text, path=path or None)
        found = script.get_names(all_scopes=True, definitions=True, references=True)
        defs: dict[int, tuple[str, int]] = {}
        ctx_lines: set[int] = set()
        for name in found:
            if name.type == "function" and name.is_definition():
                defs[name.line] = (name.name, name.column)
            elif name.name == "ctx" and not name.is_definition():
                ctx_lines.add(name.line)
    return _Names(defs, frozenset(ctx_lines), _ctx_calls(text))


async def warm_up() -> None:
    """Load jedi's grammar once, so the first hover is not the slow one."""
    await _off_loop(_names, "async def handler(req, ctx):\n    await ctx.db.query('x')\n", "")


async def _off_loop(work: Any, *args: Any) -> Any:
    return await asyncio.get_running_loop().run_in_executor(_WORKER, work, *args)


async def resolve(text: str, path: str, line: int, character: int) -> Target:
    """What is at 0-based (`line`, `character`) in `text` (None for a document too large)."""
    if len(text) > MAX_ANALYSED:
        return None
    target: Target = await _off_loop(resolve_now, text, path, line, character)
    return target


async def definition_line(text: str, path: str, function: str = "handler") -> int | None:
    """The 1-based line where `function` is defined in `text`, if it is (None when too large)."""
    if len(text) > MAX_ANALYSED:
        return None
    found: int | None = await _off_loop(definition_line_now, text, path, function)
    return found


def resolve_now(text: str, path: str, line: int, character: int) -> Target:
    """What is at 0-based (`line`, `character`) in `text`."""
    lines = text.splitlines()
    if not 0 <= line < len(lines):
        return None
    current = lines[line]
    for match in _STRING.finditer(current):
        if match.start() <= character <= match.end():
            return NameString(match.group(2))
    names = _names(text, path)
    line1 = line + 1
    if line1 in names.defs:
        name, column = names.defs[line1]
        return FunctionDef(name, line1, Span(line, column, line, column + len(name)))
    containing = [c for c in names.calls if c[0] <= line1 <= c[1]]
    if containing:
        start, _end, label, span = max(containing, key=lambda c: c[0])
        return CtxCall(label, start, span)
    chain = CTX_CHAIN.search(current) if line1 in names.ctx_lines else None
    if chain is not None:
        return CtxCall(chain.group(0), line1, Span(line, chain.start(), line, chain.end()))
    return None


def definition_line_now(text: str, path: str, function: str = "handler") -> int | None:
    """The 1-based line where `function` is defined in `text`, if it is (in `_WORKER`)."""
    for line, (name, _column) in sorted(_names(text, path).defs.items()):
        if name == function:
            return line
    return None
