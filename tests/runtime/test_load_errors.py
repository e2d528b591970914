"""Load errors up front: `flux dev` and `flux serve` import every function at start.

A syntax error and a sync handler each print one line with file:line at `flux dev` start and
again on reload, while the other functions keep serving; a 500 is one console line; `flux
serve` refuses to start with a broken function; a deployed function imports `lib/`.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.harness import copy_shop, free_port, write_function
from tests.runtime.test_shared_code import ITEMS, PRICING_V2, shared_project
from tests.serve.helpers import ServeProcess, env, flux

TYPO = "async def handler(req, ctx)\n    return 1\n"
BLOCKING = "import time\n\n\ndef handler(req, ctx):\n    time.sleep(1)\n"
TYPO_LINE = "flux: functions/typo.py:1: syntax error: expected ':'"
BLOCKING_LINE = "flux: functions/blocking.py:4: `handler` must be async"


def lines_starting(output: str, prefix: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith(prefix)]


def wait_for(process: ServeProcess, prefix: str, count: int = 1) -> list[str]:
    deadline = time.monotonic() + 20
    while len(found := lines_starting(process.output(), prefix)) < count:
        assert time.monotonic() < deadline, f"no {prefix!r} in:\n{process.output()}"
        time.sleep(0.05)
    return found


def test_flux_dev_names_broken_functions_and_serves_the_others(tmp_path: Path) -> None:
    shop = shared_project(copy_shop(tmp_path))
    write_function(shop, "typo", TYPO)
    write_function(shop, "blocking", BLOCKING)
    with (
        ServeProcess(shop, token=None, command="dev") as dev,
        httpx.Client(base_url=dev.url, timeout=30) as client,
    ):
        start = dev.output()
        assert len(lines_starting(start, TYPO_LINE)) == 1
        assert len(lines_starting(start, BLOCKING_LINE)) == 1
        assert "9 functions (5 HTTP, 2 jobs), 2 broken: blocking, typo on http://" in start
        assert client.post("/checkout", json=ITEMS).json() == {"total": 400}
        assert client.post("/index_note", json={}).status_code == 404
        assert client.post("/_money", json={}).status_code == 404

        failed = client.post("/typo", json={})
        assert failed.status_code == 500
        [line] = wait_for(dev, "flux: POST /typo 500 req:")
        assert line.endswith(
            "LoadError: functions/typo.py:1: syntax error: expected ':' at functions/typo.py:1"
        )

        write_function(shop, "later", "def handler(req, ctx):\n    return 1\n")
        [reloaded] = wait_for(dev, "flux: reloaded (later.py)")
        assert reloaded.endswith("3 broken: blocking, later, typo")
        wait_for(dev, "flux: functions/later.py:1: `handler` must be async")
        assert len(wait_for(dev, TYPO_LINE)) == 2  # once at start, once on reload
        assert len(wait_for(dev, BLOCKING_LINE)) == 2
        assert client.post("/checkout", json=ITEMS).json() == {"total": 400}

        (shop / "lib" / "pricing.py").write_text(PRICING_V2)  # shared code: checkout reloads
        wait_for(dev, "flux: reloaded (pricing.py)")
        assert client.post("/checkout", json=ITEMS).json() == {"total": 800}


def test_flux_serve_refuses_to_start_with_a_broken_function(tmp_path: Path) -> None:
    shop = copy_shop(tmp_path)
    write_function(shop, "blocking", BLOCKING)
    r = subprocess.run(
        [sys.executable, "-m", "flux_lsp", "serve", "-p", str(shop), "--port", str(free_port())],
        capture_output=True,
        text=True,
        env=env(),
        timeout=60,
    )
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines_starting(r.stderr, BLOCKING_LINE)) == 1
    assert lines[-1].startswith(
        "flux: not serving: 6 functions (4 HTTP, 1 job), 1 broken: blocking"
    )
    assert "Traceback" not in r.stderr


def test_a_deployed_function_imports_lib(tmp_path: Path) -> None:
    server_dir = tmp_path / "server"
    server_dir.mkdir()
    shop = shared_project(copy_shop(tmp_path))
    with ServeProcess(server_dir) as server, server.client() as client:
        r = flux("deploy", "-p", str(shop), "--server", server.url)
        assert r.returncode == 0, r.stderr
        assert client.post("/checkout", json=ITEMS).json() == {"total": 400}
        assert client.post("/index_note", json={}).status_code == 404
