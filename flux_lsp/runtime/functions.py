"""Loading user functions from `functions/<name>.py`, with reload and unsaved-buffer overlays.

Each function file is compiled under its real path (so tracebacks point at the user's file)
into a fresh module, and its `handler` is checked: an `async def` taking `(req, ctx)` (an HTTP
function, routed at `/<name>`) or `(job, ctx)` (a job, run only from the queue). A file that
cannot be used raises `FunctionLoadError` holding a `LoadProblem`: the file, the line and the
reason, in one line. Files whose names begin with `_` are helpers the functions import; they are
never functions. Shared code (`lib/`, the `_helpers`) is imported through `shared_code.py`.

An overlay `{relative path: text}` replaces a file's contents without touching disk: the
language server uses it to replay against unsaved edits.
"""

from __future__ import annotations

import ast
import inspect
import linecache
import re
import traceback
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from flux_lsp.runtime.shared_code import project_imports

FUNCTION_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")

FunctionKind = Literal["http", "job"]
JOB_PARAMETER = "job"
"""A handler whose first parameter has this name is a job: `async def handler(job, ctx)`."""
SIGNATURE_HINT = "`async def handler(req, ctx)` (or `handler(job, ctx)` for a job)"


@dataclass(frozen=True, slots=True)
class LoadProblem:
    """Why a function file cannot be used, and where: one line, `file:line: reason`."""

    file: str
    """Relative to the project root, e.g. `functions/checkout.py` or `lib/pricing.py`."""
    line: int
    message: str
    column: int | None = None
    """0-based, when known (syntax errors)."""

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class FunctionLoadError(Exception):
    """A function file exists but cannot be used (syntax error, no async handler, ...)."""

    def __init__(self, problem: LoadProblem) -> None:
        super().__init__(str(problem))
        self.problem = problem


def valid_function_name(name: str) -> bool:
    """Names are identifiers: no dots, slashes or other path tricks."""
    return bool(FUNCTION_NAME.match(name))


def is_function_name(name: str) -> bool:
    """A name that can be a function: an identifier not beginning with `_` (those are helpers)."""
    return valid_function_name(name) and not name.startswith("_")


@dataclass(slots=True)
class LoadedFunction:
    name: str
    path: Path
    handler: Callable[..., Any]
    mtime_ns: int
    kind: FunctionKind = "http"

    @property
    def line(self) -> int:
        """The line of `def handler`."""
        return int(self.handler.__code__.co_firstlineno)


def handler_kind(handler: Callable[..., Any]) -> FunctionKind:
    """`http` or `job` for a usable handler; ValueError saying why it cannot be called as one."""
    if not inspect.iscoroutinefunction(handler):
        raise ValueError(f"`handler` must be async: write {SIGNATURE_HINT}")
    try:
        signature = inspect.signature(handler)
    except (TypeError, ValueError):
        raise ValueError(f"`handler` has no readable signature; write {SIGNATURE_HINT}") from None
    try:
        signature.bind(None, None)
    except TypeError:
        shown = ", ".join(signature.parameters)
        raise ValueError(
            f"`handler({shown})` cannot be called with two arguments; write {SIGNATURE_HINT}"
        ) from None
    first = next(iter(signature.parameters), "")
    return "job" if first == JOB_PARAMETER else "http"


def kind_in_source(source: str) -> FunctionKind | None:
    """The kind a file's `handler` declares, read without running it (for broken files)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == "handler":
            params = [*node.args.posonlyargs, *node.args.args]
            return "job" if params and params[0].arg == JOB_PARAMETER else "http"
    return None


class FunctionRegistry:
    """The functions of one project folder, loaded on first use (or all at once: `load_all`)."""

    def __init__(
        self,
        functions_dir: Path,
        overlay: dict[str, str] | None = None,
        project_root: Path | None = None,
        check_mtime: bool = False,
    ) -> None:
        self.functions_dir = functions_dir.resolve()
        self.project_root = (project_root or functions_dir.parent).resolve()
        self.overlay = dict(overlay or {})
        self.check_mtime = check_mtime
        self._loaded: dict[str, LoadedFunction] = {}
        self._overlaid_files: list[str] = []
        # a new code version imports its shared code afresh
        project_imports().forget(self.project_root)

    def path_of(self, name: str) -> Path:
        return self.functions_dir / f"{name}.py"

    def relative(self, path: Path | str) -> str:
        """`path` relative to the project root, with forward slashes."""
        try:
            return Path(path).relative_to(self.project_root).as_posix()
        except ValueError:
            return Path(path).as_posix()

    def _overlay_text(self, path: Path) -> str | None:
        try:
            rel = path.relative_to(self.project_root).as_posix()
        except ValueError:
            return None
        return self.overlay.get(rel)

    def exists(self, name: str) -> bool:
        """A function file (not a `_helper`) named `name` exists."""
        if not is_function_name(name):
            return False
        path = self.path_of(name)
        return path.is_file() or self._overlay_text(path) is not None

    def names(self) -> list[str]:
        found = {p.stem for p in self.functions_dir.glob("*.py") if is_function_name(p.stem)}
        for rel in self.overlay:
            p = self.project_root / rel
            if p.parent == self.functions_dir and p.suffix == ".py" and is_function_name(p.stem):
                found.add(p.stem)
        return sorted(found)

    def source_of(self, name: str) -> str | None:
        """The text of a function file (the overlay's when there is one), or None."""
        path = self.path_of(name)
        text = self._overlay_text(path)
        if text is not None:
            return text
        try:
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None

    def get(self, name: str) -> LoadedFunction | None:
        """The loaded function, or None when no such function exists."""
        if not is_function_name(name):
            return None
        loaded = self._loaded.get(name)
        if loaded is not None and not self.check_mtime:
            return loaded
        path = self.path_of(name)
        text = self._overlay_text(path)
        try:
            mtime = path.stat().st_mtime_ns if text is None else 0
        except OSError:
            self._loaded.pop(name, None)
            return None
        if loaded is not None and loaded.mtime_ns == mtime:
            return loaded
        loaded = self._load(name, path, text, mtime)
        self._loaded[name] = loaded
        return loaded

    def kind_of(self, name: str) -> FunctionKind | None:
        """`http` or `job` for an existing function; read from its source when it is broken."""
        try:
            loaded = self.get(name)
        except FunctionLoadError:
            source = self.source_of(name)
            return kind_in_source(source) if source is not None else None
        return loaded.kind if loaded is not None else None

    def _problem(
        self, path: Path, line: int, message: str, column: int | None = None
    ) -> LoadProblem:
        return LoadProblem(self.relative(path), max(1, line), message, column)

    def _load(self, name: str, path: Path, text: str | None, mtime: int) -> LoadedFunction:
        try:
            source = text if text is not None else path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise FunctionLoadError(self._problem(path, 1, f"cannot read: {exc}")) from None
        filename = str(path)
        if text is not None:
            lines = source.splitlines(keepends=True)
            linecache.cache[filename] = (len(source), None, lines, filename)
            self._overlaid_files.append(filename)
        else:
            linecache.checkcache(filename)
        try:
            code = compile(source, filename, "exec")
        except SyntaxError as exc:
            where = Path(exc.filename) if exc.filename else path
            column = exc.offset - 1 if exc.offset else None
            raise FunctionLoadError(
                self._problem(where, exc.lineno or 1, f"syntax error: {exc.msg}", column)
            ) from None
        module = types.ModuleType(f"flux_functions.{name}")
        module.__file__ = filename
        project_imports().activate(self.functions_dir, self.project_root)
        try:
            exec(code, module.__dict__)
        except Exception as exc:
            raise FunctionLoadError(self._import_problem(path, exc)) from exc
        handler = getattr(module, "handler", None)
        if handler is None:
            raise FunctionLoadError(
                self._problem(path, 1, f"no `handler`: define {SIGNATURE_HINT}")
            )
        if not callable(handler):
            raise FunctionLoadError(
                self._problem(path, 1, f"`handler` is not a function: define {SIGNATURE_HINT}")
            )
        code_of = getattr(handler, "__code__", None)
        line = int(code_of.co_firstlineno) if code_of is not None else 1
        try:
            kind = handler_kind(handler)
        except ValueError as exc:
            raise FunctionLoadError(self._problem(path, line, str(exc))) from None
        return LoadedFunction(name=name, path=path, handler=handler, mtime_ns=mtime, kind=kind)

    def _import_problem(self, path: Path, exc: BaseException) -> LoadProblem:
        """Where running a function file failed: the deepest frame in the project's code."""
        if isinstance(exc, SyntaxError) and exc.filename:  # in a shared module it imports
            return self._problem(
                Path(exc.filename), exc.lineno or 1, f"syntax error: {exc.msg}", None
            )
        where, line = path, 1
        root = str(self.project_root) + "/"
        for frame in traceback.extract_tb(exc.__traceback__):
            if frame.filename.startswith(root) and "/." not in frame.filename[len(root) :]:
                where, line = Path(frame.filename), frame.lineno or 1
        return self._problem(where, line, f"import failed: {type(exc).__name__}: {exc}")

    def invalidate(self) -> None:
        """Forget loaded modules and shared code; the next request loads the files again."""
        self._loaded.clear()
        project_imports().forget(self.project_root)

    def close(self) -> None:
        """Drop overlay sources from the line cache."""
        for filename in self._overlaid_files:
            linecache.cache.pop(filename, None)
        self._overlaid_files.clear()
        self._loaded.clear()
