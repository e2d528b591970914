"""Loading user functions from `functions/<name>.py`, with reload and unsaved-buffer overlays.

Each function file is compiled under its real path (so tracebacks point at the user's file)
into a fresh module. An overlay `{relative path: text}` replaces a file's contents without
touching disk: the language server uses it to replay against unsaved edits.
"""

from __future__ import annotations

import inspect
import linecache
import re
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FUNCTION_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


class FunctionLoadError(Exception):
    """A function file exists but cannot be used (syntax error, no async handler, ...)."""


def valid_function_name(name: str) -> bool:
    """Names are identifiers: no dots, slashes or other path tricks."""
    return bool(FUNCTION_NAME.match(name))


@dataclass(slots=True)
class LoadedFunction:
    name: str
    path: Path
    handler: Callable[..., Any]
    mtime_ns: int


class FunctionRegistry:
    """The functions of one project folder, loaded on first use."""

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

    def path_of(self, name: str) -> Path:
        return self.functions_dir / f"{name}.py"

    def _overlay_text(self, path: Path) -> str | None:
        try:
            rel = path.relative_to(self.project_root).as_posix()
        except ValueError:
            return None
        return self.overlay.get(rel)

    def exists(self, name: str) -> bool:
        if not valid_function_name(name):
            return False
        path = self.path_of(name)
        return path.is_file() or self._overlay_text(path) is not None

    def names(self) -> list[str]:
        found = {p.stem for p in self.functions_dir.glob("*.py") if valid_function_name(p.stem)}
        for rel in self.overlay:
            p = self.project_root / rel
            if p.parent == self.functions_dir and p.suffix == ".py":
                found.add(p.stem)
        return sorted(n for n in found if not n.startswith("_"))

    def get(self, name: str) -> LoadedFunction | None:
        """The loaded function, or None when no such function exists."""
        if not valid_function_name(name):
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

    def _load(self, name: str, path: Path, text: str | None, mtime: int) -> LoadedFunction:
        try:
            source = text if text is not None else path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise FunctionLoadError(f"cannot read {path.name}: {exc}") from None
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
            raise FunctionLoadError(f"{path.name}:{exc.lineno}: syntax error: {exc.msg}") from None
        module = types.ModuleType(f"flux_functions.{name}")
        module.__file__ = filename
        try:
            exec(code, module.__dict__)
        except Exception as exc:
            raise FunctionLoadError(
                f"{path.name}: import failed: {type(exc).__name__}: {exc}"
            ) from exc
        handler = getattr(module, "handler", None)
        if handler is None or not inspect.iscoroutinefunction(handler):
            raise FunctionLoadError(f"{path.name} must define `async def handler(req, ctx)`")
        return LoadedFunction(name=name, path=path, handler=handler, mtime_ns=mtime)

    def invalidate(self) -> None:
        """Forget loaded modules; the next request loads the files again."""
        self._loaded.clear()

    def close(self) -> None:
        """Drop overlay sources from the line cache."""
        for filename in self._overlaid_files:
            linecache.cache.pop(filename, None)
        self._overlaid_files.clear()
        self._loaded.clear()
