"""A deploy's function check, in a child process with a time and a memory limit.

Importing a bundle's functions runs the user's code: an `os._exit`, a signal, an endless loop
or a huge allocation at import must fail that deploy, not kill or wedge `flux serve`. So
`check_functions` runs `python -m flux_lsp.serve.deploy_check <folder>` in its own session,
which imports every function of the unpacked bundle and says, line by line, which file it is
importing; the server waits at most `[server] deploy_check_timeout`, caps the child's memory at
`[server] deploy_check_memory` MB, and turns whatever happened into one `BundleError` line
naming the file ("functions/spins.py: import did not finish in 30 s").

Imports: the project, the runtime's function loader and catalog, and `bundle` for its error.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from pathlib import Path

from flux_lsp.bundle import BundleError

IMPORTING = "importing "
PROBLEM = "problem "
OK = "ok"


async def check_functions(folder: Path, timeout: float, memory_mb: int) -> None:
    """Import every function of the project in `folder` in a child process; raise BundleError
    with one line when one cannot load, or when the child exits, is killed, or runs out of
    time or memory."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "flux_lsp.serve.deploy_check",
        str(folder),
        str(memory_mb),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,  # its own process group: killed whole, never our signals
    )
    assert process.stdout is not None
    current = "functions"
    verdict: str | None = None
    try:
        async with asyncio.timeout(timeout):
            async for raw in process.stdout:
                line = raw.decode("utf-8", "replace").rstrip("\n")
                if line.startswith(IMPORTING):
                    current = line.removeprefix(IMPORTING)
                elif line.startswith(PROBLEM):
                    verdict = json.loads(line.removeprefix(PROBLEM))
                elif line == OK:
                    verdict = OK
            code = await process.wait()
    except TimeoutError:
        _kill(process.pid)
        await process.wait()
        raise BundleError(f"{current}: import did not finish in {timeout:g} s") from None
    finally:
        if process.returncode is None:
            _kill(process.pid)
            with contextlib.suppress(ProcessLookupError):
                await process.wait()
    if verdict == OK and code == 0:
        return
    if isinstance(verdict, str) and verdict != OK:
        raise BundleError(verdict)
    if code < 0:
        name = signal.Signals(-code).name
        raise BundleError(f"{current}: import was killed by {name}")
    if code == MEMORY_EXIT:
        raise BundleError(f"{current}: import used more than {memory_mb} MB")
    raise BundleError(f"{current}: import exited with code {code}")


MEMORY_EXIT = 86


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _say(line: str) -> None:
    os.write(1, (line + "\n").encode("utf-8", "replace"))


def main(folder: str, memory_mb: str) -> int:
    """The child: import every function of `folder` and say how it went on stdout."""
    import resource

    limit = int(memory_mb) * 1024 * 1024
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        from flux_lsp.project import ConfigError, Project
        from flux_lsp.runtime.catalog import describe
        from flux_lsp.runtime.functions import FunctionRegistry, valid_function_name

        try:
            project = Project.load(folder)
        except ConfigError as exc:
            _say(PROBLEM + json.dumps(str(exc)))
            return 0
        registry = FunctionRegistry(project.functions_dir, project_root=project.root)
        for path in sorted(project.functions_dir.glob("*.py")):
            if not valid_function_name(path.stem) and not path.stem.startswith("_"):
                _say(
                    PROBLEM
                    + json.dumps(
                        f"functions/{path.name}: not a valid function name "
                        "(use letters, digits and _, starting with a letter)"
                    )
                )
                return 0
        for name in registry.names():
            _say(IMPORTING + registry.relative(registry.path_of(name)))
            problem = describe(registry, name).error
            if problem is not None:
                _say(PROBLEM + json.dumps(str(problem)))
                return 0
    except MemoryError:
        os._exit(MEMORY_EXIT)
    _say(OK)
    return 0


if __name__ == "__main__":
    os._exit(main(sys.argv[1], sys.argv[2]))
