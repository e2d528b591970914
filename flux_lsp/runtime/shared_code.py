"""The project's shared code on the import path: `lib/` and the `_helpers` of `functions/`.

A function imports code it shares with other functions from the project: `from lib.pricing
import total` (a `lib/` folder at the project root) or `from _util import slug` (a file in
`functions/` whose name begins with `_`, which is never routed). `ProjectImports` is one
finder at the end of `sys.meta_path`, so installed packages and the standard library always
win over a project's file of the same name, and it looks in the project whose functions are
being loaded (`activate`).

Shared modules live in `sys.modules` like any other. `forget` drops the ones a project
imported, so that the next load imports them again from disk: a new code version (a
`FunctionRegistry` is made), a `flux dev` reload, or another project loading in the same
process (the language server, tests) never reuses another version's shared code.

May import the standard library only.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType


class ProjectImports(importlib.abc.MetaPathFinder):
    """Finds top-level modules in the active project's root and functions folder."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._roots: tuple[str, ...] = ()
        self._found: dict[str, str] = {}
        """Top-level module name → the project root it was found for."""

    def activate(self, functions_dir: Path, project_root: Path) -> None:
        """Resolve shared imports in this project from now on; drop another project's."""
        roots = (str(functions_dir), str(project_root))
        with self._lock:
            if roots == self._roots:
                return
            previous = self._roots
            self._roots = roots
        if previous:
            self.forget(Path(previous[1]))

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        roots = self._roots
        if path is not None or not roots:
            return None  # submodules are found through their package's __path__
        spec = importlib.machinery.PathFinder.find_spec(fullname, list(roots))
        if spec is not None:
            with self._lock:
                self._found[fullname] = roots[1]
        return spec

    def forget(self, project_root: Path | None = None) -> list[str]:
        """Drop the shared modules imported for `project_root` (all when None); their names."""
        root = str(project_root) if project_root is not None else None
        with self._lock:
            names = [n for n, r in self._found.items() if root is None or r == root]
            for name in names:
                del self._found[name]
        dropped: list[str] = []
        for name in names:
            prefix = name + "."
            for key in [k for k in sys.modules if k == name or k.startswith(prefix)]:
                sys.modules.pop(key, None)
                dropped.append(key)
        return dropped

    def modules_of(self, project_root: Path) -> dict[str, str]:
        """The shared modules loaded now for `project_root`: module name → file."""
        root = str(project_root)
        with self._lock:
            names = [n for n, r in self._found.items() if r == root]
        files: dict[str, str] = {}
        for name in names:
            prefix = name + "."
            for key, module in list(sys.modules.items()):
                if key == name or key.startswith(prefix):
                    file = getattr(module, "__file__", None)
                    if isinstance(file, str):
                        files[key] = file
        return files


def project_imports() -> ProjectImports:
    """The one finder of this process, installed at the end of `sys.meta_path` on first use."""
    for finder in sys.meta_path:
        if isinstance(finder, ProjectImports):
            return finder
    finder = ProjectImports()
    sys.meta_path.append(finder)
    return finder
