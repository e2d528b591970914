"""What `flux tail` imports: only what it uses, so that the command starts quickly.

Not a timing: the modules a `flux tail` leaves in `sys.modules`, read in a fresh interpreter,
on the file and on PostgreSQL. The heavy ones it has no use for (typer, an event loop on a
file, the other recorder's driver, the language server, the HTTP client) must stay out;
`bench/cli_startup.py` times it.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest

from flux_lsp.cli.reading import run_to_end
from flux_lsp.project import is_database_url
from tests.cli.incident import Incident

NOT_FOR_TAIL = (
    "asyncio", "aiosqlite", "psycopg", "pydantic", "httpx", "pygls", "watchfiles", "typer", "click"
)  # fmt: skip

PROBE = """
import json, sys
from flux_lsp.cli.main import main
sys.argv = ["flux", *sys.argv[1:]]
try:
    main()
except SystemExit as exit:
    code = exit.code
else:
    code = 0
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def tail_modules(*args: str) -> tuple[int, str, set[str]]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, "tail", *args], capture_output=True, text=True, check=True
    )
    *printed, last = done.stdout.splitlines()
    result = json.loads(last)
    return result["code"], "\n".join(printed), set(result["modules"])


def test_tail_imports_only_its_own_recorder_and_no_typer(incident: Incident) -> None:
    """No event loop and no psycopg, on a file and on PostgreSQL (read through libpq), and
    nothing else of the list."""
    database = is_database_url(incident.recorder)
    other_store = "sqlite_store" if database else "postgres_store"
    for args in (["--limit", "20"], ["-n", "5", "--json"]):
        for where in (["--recorder", incident.recorder], ["-p", str(incident.project)]):
            code, out, modules = tail_modules(*args, *where)
            assert code == 0, out
            assert "POST /" in out
            pulled = sorted(name for name in modules if name.split(".")[0] in NOT_FOR_TAIL)
            assert pulled == [], f"flux tail {' '.join(args + where)} imported {pulled}"
            assert f"flux_lsp.recorder.{other_store}" not in modules


def test_a_blocking_command_that_waits_is_told_so() -> None:
    async def answers() -> int:
        return 7

    async def waits() -> None:
        await asyncio.sleep(0)

    assert run_to_end(answers()) == 7
    with pytest.raises(RuntimeError, match="needs an event loop"):
        run_to_end(waits())
