"""What is under the cursor: a function definition, a `ctx` service call, or a name string.

The document's syntax tree (`ast`) says which function each `def` line defines, where `ctx` is
used and the extent of every `ctx.<service>.<method>(...)` call, so hovering any line of
`await ctx.db.update(\\n ... )` finds the call. A document that does not parse (while it is
being typed) is read line by line instead: `def` lines and `ctx.…` chains on the line. What a
document holds is kept per file for its current text (the last `CACHED_FILES` files), since
hovers repeat on the same text; parsing a function file takes well under a millisecond.

A document over `INLINE_CHARS` characters is parsed in one worker thread of its own, never on
the event loop: `resolve` and `definition_line` are awaited, and a request cancelled meanwhile
(`$/cancelRequest`) stops waiting for it. A document over `MAX_ANALYSED` characters is not
analysed at all (its diagnostics and their hovers come from the recorder and stay fast).
May import the standard library and the server's `lru` cache.
"""

from __future__ import annotations

import ast
import asyncio
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from flux_lsp.lsp.lru import Lru

MAX_ANALYSED = 1_000_000
"""Characters beyond which a document gets no syntax-tree work."""
INLINE_CHARS = 50_000
"""Documents up to this many characters are parsed on the event loop (well under 5 ms)."""
CACHED_FILES = 1024
"""How many files' parsed names are kept (one entry per file, for its latest text)."""
_WORKER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="flux-resolve")
CTX_CHAIN = re.compile(r"\bctx(?:\.[A-Za-z_]\w*)+")
_STRING = re.compile(r"""(["'])([A-Za-z_][\w.-]*)\1""")
_DEF_LINE = re.compile(r"^\s*(?:async\s+)?def\s+([A-Za-z_]\w*)")


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
    if text.isascii():
        return min(byte_offset, len(text))
    return len(text.encode("utf-8")[:byte_offset].decode("utf-8", errors="ignore"))


def _def_column(lines: list[str], line: int, name: str) -> int:
    """The character column of `name` on its 0-based `def` line."""
    text = lines[line] if 0 <= line < len(lines) else ""
    found = re.search(rf"\bdef\s+({re.escape(name)})\b", text)
    return found.start(1) if found else max(0, text.find(name))


def _parsed_names(tree: ast.Module, lines: list[str]) -> _Names:
    defs: dict[int, tuple[str, int]] = {}
    ctx_lines: set[int] = set()
    calls: list[tuple[int, int, str, Span]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            defs[node.lineno] = (node.name, _def_column(lines, node.lineno - 1, node.name))
        elif isinstance(node, ast.Name):
            if node.id == "ctx" and isinstance(node.ctx, ast.Load):
                ctx_lines.add(node.lineno)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            label = ast.unparse(node.func)
            if label.startswith("ctx."):
                end = node.end_lineno or node.lineno
                span = Span(
                    node.lineno - 1,
                    _column(lines, node.lineno - 1, node.col_offset),
                    end - 1,
                    _column(lines, end - 1, node.end_col_offset or node.col_offset),
                )
                calls.append((node.lineno, end, label, span))
    return _Names(defs, frozenset(ctx_lines), tuple(calls))


def _scanned_names(lines: list[str]) -> _Names:
    """What a document that does not parse holds, line by line: no multi-line calls."""
    defs: dict[int, tuple[str, int]] = {}
    ctx_lines: set[int] = set()
    for number, text in enumerate(lines, start=1):
        found = _DEF_LINE.match(text)
        if found:
            defs[number] = (found.group(1), found.start(1))
        elif CTX_CHAIN.search(text):
            ctx_lines.add(number)
    return _Names(defs, frozenset(ctx_lines), ())


_CACHE: Lru[str, tuple[str, _Names]] = Lru.fixed(CACHED_FILES)
_CACHE_LOCK = threading.Lock()  # parsed on the worker thread, read from the event loop


def _names(text: str, path: str) -> _Names:
    """The names of `text` (the document at `path`), parsed once per text."""
    with _CACHE_LOCK:
        cached = _CACHE.get(path)
    if cached is not None and cached[0] == text:
        return cached[1]
    lines = text.splitlines()
    try:
        names = _parsed_names(ast.parse(text), lines)
    except (SyntaxError, ValueError, RecursionError):
        names = _scanned_names(lines)
    with _CACHE_LOCK:
        _CACHE.put(path, (text, names))
    return names


async def warm_up() -> None:
    """Start the worker thread, so the first large document does not pay for it."""
    await _off_loop(_names, "async def handler(req, ctx):\n    await ctx.db.query('x')\n", "")


async def _off_loop(work: Any, *args: Any) -> Any:
    return await asyncio.get_running_loop().run_in_executor(_WORKER, work, *args)


async def resolve(text: str, path: str, line: int, character: int) -> Target:
    """What is at 0-based (`line`, `character`) in `text` (None for a document too large)."""
    if len(text) > MAX_ANALYSED:
        return None
    if len(text) <= INLINE_CHARS:
        return resolve_now(text, path, line, character)
    target: Target = await _off_loop(resolve_now, text, path, line, character)
    return target


async def definition_line(text: str, path: str, function: str = "handler") -> int | None:
    """The 1-based line where `function` is defined in `text`, if it is (None when too large)."""
    if len(text) > MAX_ANALYSED:
        return None
    if len(text) <= INLINE_CHARS:
        return definition_line_now(text, path, function)
    found: int | None = await _off_loop(definition_line_now, text, path, function)
    return found


async def ctx_calls(text: str, path: str) -> list[CtxCall]:
    """Every `ctx.<service>.<method>(...)` call the document's syntax tree holds, in order
    (none for a document too large or that does not parse)."""
    if len(text) > MAX_ANALYSED:
        return []
    names = _names(text, path) if len(text) <= INLINE_CHARS else await _off_loop(_names, text, path)
    return [CtxCall(label, start, span) for start, _end, label, span in names.calls]


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
    """The 1-based line where `function` is defined in `text`, if it is."""
    for line, (name, _column) in sorted(_names(text, path).defs.items()):
        if name == function:
            return line
    return None
