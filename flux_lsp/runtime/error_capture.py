"""Turning an exception (or a returned 4xx) into an `ErrorInfo` that points at user code.

The location is the deepest traceback frame inside the project's functions folder, with the
column range Python 3.11 keeps for each instruction, and three lines of source on each side so
that the editor can re-anchor the diagnostic after the file changes.
"""

from __future__ import annotations

import ast
import linecache
import reprlib
import traceback
from types import TracebackType

from flux_lsp.model import ErrorInfo, Location
from flux_lsp.runtime.inflight import relative_path
from flux_lsp.runtime.redaction import Redactor

CONTEXT_LINES = 3
MAX_LOCALS = 30
_repr = reprlib.Repr()
_repr.maxstring = 200
_repr.maxother = 200
_repr.maxlong = 60
_repr.maxdict = 12
_repr.maxlist = 12


def safe_repr(value: object) -> str:
    try:
        return _repr.repr(value)
    except Exception as exc:  # a broken __repr__ must not break recording
        return f"<unrepresentable {type(value).__name__}: {type(exc).__name__}>"


def source_location(
    filename: str,
    rel_file: str,
    line: int,
    col: int | None,
    end_line: int | None,
    end_col: int | None,
    function: str | None,
) -> Location:
    """A location with its source line and context read from the file."""
    lines = linecache.getlines(filename)
    start = max(1, line - CONTEXT_LINES)
    stop = min(len(lines), line + CONTEXT_LINES)
    context = [lines[i - 1].rstrip("\n") for i in range(start, stop + 1)] if lines else []
    return Location(
        file=rel_file,
        line=line,
        col=col,
        end_line=end_line,
        end_col=end_col,
        function=function,
        source_line=lines[line - 1].rstrip("\n") if 0 < line <= len(lines) else None,
        context=context,
        context_start=start if context else None,
    )


def capture_error(
    exc: BaseException, user_root: str | tuple[str, ...], project_root: str, redactor: Redactor
) -> ErrorInfo:
    """ErrorInfo for an exception: user-code frames, failing location and its locals."""
    frames: list[Location] = []
    failing_tb: TracebackType | None = None
    tb = exc.__traceback__
    summaries = traceback.extract_tb(tb)
    index = 0
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.startswith(user_root):
            fs = summaries[index]
            frames.append(
                source_location(
                    filename,
                    relative_path(filename, project_root),
                    fs.lineno or tb.tb_lineno,
                    fs.colno,
                    fs.end_lineno,
                    fs.end_colno,
                    fs.name,
                )
            )
            failing_tb = tb
        tb = tb.tb_next
        index += 1
    locals_: dict[str, str] = {}
    if failing_tb is not None:
        for name, value in list(failing_tb.tb_frame.f_locals.items())[:MAX_LOCALS]:
            if redactor.is_secret_key(name):
                locals_[name] = "[redacted]"
            else:
                locals_[name] = safe_repr(redactor.value(value))
    message = str(exc) or type(exc).__name__
    return ErrorInfo(
        type=type(exc).__name__,
        message=message,
        location=frames[-1] if frames else None,
        frames=frames,
        locals=locals_,
    )


def locate_returned_error(filename: str, rel_file: str, message: str) -> Location | None:
    """Where a handler returned an error response: the `return` holding `message` as a literal.

    A 4xx that a handler returns (rather than raises) leaves no traceback, so the location is
    found in the source: the first `return` statement whose expression contains the message.
    """
    text = "".join(linecache.getlines(filename))
    if not text or not message:
        return None
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if not isinstance(node, ast.Return) or node.value is None:
            continue
        for sub in ast.walk(node.value):
            if isinstance(sub, ast.Constant) and sub.value == message:
                func = _enclosing_function(tree, node.lineno)
                return source_location(
                    filename,
                    rel_file,
                    node.lineno,
                    node.col_offset,
                    node.end_lineno,
                    node.end_col_offset,
                    func,
                )
    return None


def _enclosing_function(tree: ast.AST, line: int) -> str | None:
    best: str | None = None
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            end = node.end_lineno or node.lineno
            if node.lineno <= line <= end:
                best = node.name
    return best


class HTTPError(Exception):
    """Raise from a handler to answer with `status` and `{"error": message}`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class MalformedJSON(HTTPError):
    """The request body is not valid JSON; the gateway answers 400."""

    def __init__(self, detail: str) -> None:
        super().__init__(400, f"malformed JSON body: {detail}")
