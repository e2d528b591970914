"""What a project's functions are: each one's route or job trigger, its file, and whether it loads.

`load_catalog(registry)` imports every function now (what `flux dev` and `flux serve` do at
start and on reload) and returns a `Catalog`: one `FunctionInfo` per `functions/<name>.py`, the
load problems (`file:line: reason`) of the broken ones, and notes about files that are not
functions (subfolders of `functions/`, which are never routed). `flux functions` lists it; the
language server turns its problems into diagnostics.

May import `flux_lsp.runtime.functions` and the standard library.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from flux_lsp.runtime.functions import (
    FunctionLoadError,
    FunctionRegistry,
    LoadProblem,
    is_function_name,
)

JOB_TRIGGER = "queue"
"""How a job runs: `ctx.queue.enqueue("<name>", data)`."""


@dataclass(frozen=True, slots=True)
class FunctionInfo:
    """One function: how it is reached, where it is, and whether it loads."""

    name: str
    kind: Literal["http", "job"] | None
    """`http` (routed), `job` (queue only); None when a broken file does not say."""
    route: str | None
    """`/<name>` for an HTTP function, None for a job."""
    trigger: str | None
    """`queue` for a job, None for an HTTP function."""
    file: str
    """Relative to the project root."""
    line: int
    """The line of `def handler` (1 when the file does not load)."""
    loads: bool
    error: LoadProblem | None = None


@dataclass(frozen=True, slots=True)
class Catalog:
    """A project's functions, in name order, and notes about what is not a function."""

    functions: list[FunctionInfo] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[LoadProblem]:
        return [f.error for f in self.functions if f.error is not None]

    @property
    def broken(self) -> list[str]:
        return [f.name for f in self.functions if not f.loads]

    def summary(self) -> str:
        """`4 functions (3 HTTP, 1 job)`, with `, 1 broken: a` when some do not load."""
        http = sum(1 for f in self.functions if f.kind == "http" and f.loads)
        jobs = sum(1 for f in self.functions if f.kind == "job" and f.loads)
        count = len(self.functions)
        text = f"{_plural(count, 'function')} ({http} HTTP, {_plural(jobs, 'job')})"
        if self.broken:
            text += f", {len(self.broken)} broken: {', '.join(self.broken)}"
        return text


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'s' if count != 1 else ''}"


def describe(registry: FunctionRegistry, name: str) -> FunctionInfo:
    """Load one function and say what it is."""
    file = registry.relative(registry.path_of(name))
    try:
        loaded = registry.get(name)
    except FunctionLoadError as exc:
        kind = registry.kind_of(name)
        return _info(name, kind, file, 1, exc.problem)
    if loaded is None:
        problem = LoadProblem(file, 1, "the file is gone")
        return _info(name, None, file, 1, problem)
    return _info(name, loaded.kind, file, loaded.line, None)


def _info(
    name: str,
    kind: Literal["http", "job"] | None,
    file: str,
    line: int,
    error: LoadProblem | None,
) -> FunctionInfo:
    return FunctionInfo(
        name=name,
        kind=kind,
        route=f"/{name}" if kind != "job" else None,
        trigger=JOB_TRIGGER if kind == "job" else None,
        file=file,
        line=line,
        loads=error is None,
        error=error,
    )


def load_catalog(registry: FunctionRegistry) -> Catalog:
    """Import every function of `registry` now and describe each one."""
    functions = [describe(registry, name) for name in registry.names()]
    notes: list[str] = []
    folder = registry.functions_dir
    if folder.is_dir():
        for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
            if sub.name.startswith((".", "_")) or not any(sub.rglob("*.py")):
                continue
            notes.append(
                f"{registry.relative(sub)}/: subfolders of functions/ are not routed; "
                "a function is functions/<name>.py, and shared code goes in lib/ "
                "or functions/_<name>.py"
            )
        for path in sorted(folder.glob("*.py")):
            if not path.stem.startswith("_") and not is_function_name(path.stem):
                notes.append(
                    f"{registry.relative(path)}: not a function name (use letters, digits "
                    "and _, not starting with _ or a digit); it is not routed"
                )
    return Catalog(functions=functions, notes=notes)
