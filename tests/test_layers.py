"""The import contract: `flux_lsp/` keeps the layers of its design, checked over the source.

Every `import` and `from ... import` in every module is read with `ast` (also the ones inside
functions and under `TYPE_CHECKING`, which are imports all the same) and checked against what
its layer may import:

    cli/  lsp/  mcp/  serve/     front ends (and testing/, the pytest plugin): never import
                                 each other
    analysis/  replay/           what the recordings mean; re-execution (siblings)
    recorder/                    the store
    runtime/                     runs functions; never imports recorder/
    model, settings, project, bundle, encode   the shared vocabulary, the typed settings, the
                                               project, deploy bundles, the JSON encoder

The declared exceptions are the entry points in `cli/` that start another front end:
`flux lsp`, `flux mcp` and `flux serve`.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "flux_lsp"

BASE = {"model", "settings", "project", "bundle", "encode", "__version__"}
FRONT_ENDS = {"cli", "lsp", "mcp", "serve", "testing"}
BELOW_FRONT_ENDS = BASE | {"runtime", "recorder", "analysis", "replay"}
ALLOWED: dict[str, set[str]] = {
    "model": set(),
    "encode": set(),
    "__version__": set(),
    "settings": {"model", "encode"},
    "project": {"model", "encode", "settings"},
    "bundle": {"model", "project", "encode"},
    "runtime": BASE,
    "recorder": BASE | {"runtime"},
    "analysis": BASE | {"runtime", "recorder"},
    "replay": BASE | {"runtime", "recorder"},
    **{front: BELOW_FRONT_ENDS for front in FRONT_ENDS},
    "__main__": {"cli"},
    "__init__": set(),
}
ENTRY_POINTS = {
    "flux_lsp.cli.lsp_commands": {"lsp"},
    "flux_lsp.cli.mcp_commands": {"mcp"},
    "flux_lsp.cli.serve_commands": {"serve"},
}
"""The declared exceptions: commands in `cli/` that start another front end."""


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def layer(module: str) -> str:
    """`flux_lsp.analysis.why` → `analysis`; `flux_lsp.model` → `model`; `flux_lsp` → `__init__`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imported(tree: ast.AST, module: str, is_package: bool) -> list[tuple[int, str]]:
    """(line, module) of every Flux module `tree` imports, relative imports resolved."""
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            if base == "flux_lsp":  # `from flux_lsp import model`
                out.extend((node.lineno, f"flux_lsp.{alias.name}") for alias in node.names)
            else:
                out.append((node.lineno, base))
    return [(line, name) for line, name in out if name.startswith("flux_lsp.")]


def violations(root: Path = PACKAGE) -> list[str]:
    """`file:line: layer imports target` for every import the contract forbids."""
    found = []
    for path in sorted(root.rglob("*.py")):
        module = module_name(path, root)
        own = layer(module)
        allowed = ALLOWED.get(own)
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for line, target in imported(tree, module, path.name == "__init__.py"):
            other = layer(target)
            if other == own or other in ENTRY_POINTS.get(module, set()):
                continue
            if allowed is None or other not in allowed:
                where = path.relative_to(root.parent)
                found.append(f"{where}:{line}: {own} may not import {target}")
    return found


def test_the_package_keeps_its_layers() -> None:
    assert violations() == []


def test_every_module_belongs_to_a_declared_layer() -> None:
    layers = {layer(module_name(p, PACKAGE)) for p in PACKAGE.rglob("*.py")}
    assert layers <= set(ALLOWED), f"undeclared layers: {sorted(layers - set(ALLOWED))}"


def test_a_forbidden_import_in_a_new_module_fails_the_contract(tmp_path: Path) -> None:
    """A throwaway module in a copy of the package: each forbidden import is named."""
    root = tmp_path / "flux_lsp"
    shutil.copytree(PACKAGE, root, ignore=shutil.ignore_patterns("__pycache__"))
    assert violations(root) == []
    (root / "runtime" / "throwaway.py").write_text(
        "from flux_lsp.recorder.store import Store\n", encoding="utf-8"
    )
    (root / "lsp" / "throwaway.py").write_text(
        "def later() -> None:\n    from flux_lsp.cli import app\n", encoding="utf-8"
    )
    (root / "analysis" / "throwaway.py").write_text("from ..serve import admin\n", encoding="utf-8")
    assert violations(root) == [
        "flux_lsp/analysis/throwaway.py:1: analysis may not import flux_lsp.serve",
        "flux_lsp/lsp/throwaway.py:2: lsp may not import flux_lsp.cli",
        "flux_lsp/runtime/throwaway.py:1: runtime may not import flux_lsp.recorder.store",
    ]
