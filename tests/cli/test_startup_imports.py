"""What `flux tail` imports: only what it uses, so that the command starts quickly.

Not a timing: the modules a `flux tail` on a recorder file leaves in `sys.modules`, read in a
fresh interpreter. The heavy ones it has no use for (an event loop, the other recorders'
drivers, the language server, the HTTP client) must stay out; `bench/cli_startup.py` times it.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flux_lsp.cli.reading import run_to_end
from flux_lsp.model import Execution, new_execution_id
from flux_lsp.recorder.writer import open_for_writing, write_batch

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


def recorder_file(folder: Path) -> Path:
    path = folder / "recorder.db"
    conn = open_for_writing(path)
    write_batch(
        conn,
        [
            Execution(
                id=new_execution_id(),
                kind="http",
                function="hello",
                method="GET",
                path="/hello",
                status="200",
                started_at=time.time(),
                duration_ms=1.0,
            )
        ],
    )
    conn.close()
    return path


def tail_modules(*args: str) -> tuple[int, str, set[str]]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, "tail", *args], capture_output=True, text=True, check=True
    )
    *printed, last = done.stdout.splitlines()
    result = json.loads(last)
    return result["code"], "\n".join(printed), set(result["modules"])


def test_tail_on_a_file_imports_no_event_loop_and_no_other_recorder(tmp_path: Path) -> None:
    recorder = recorder_file(tmp_path)
    for args in (["--limit", "20"], ["-n", "5", "--json"]):
        code, out, modules = tail_modules(*args, "--recorder", str(recorder))
        assert code == 0, out
        assert "GET /hello" in out or '"target": "GET /hello"' in out
        pulled = sorted(name for name in modules if name.split(".")[0] in NOT_FOR_TAIL)
        assert pulled == [], f"flux tail {' '.join(args)} imported {pulled}"


def test_a_blocking_command_that_waits_is_told_so() -> None:
    async def answers() -> int:
        return 7

    async def waits() -> None:
        await asyncio.sleep(0)

    assert run_to_end(answers()) == 7
    with pytest.raises(RuntimeError, match="needs an event loop"):
        run_to_end(waits())
