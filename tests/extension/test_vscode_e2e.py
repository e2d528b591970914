"""End to end in a real VS Code: scripts/vscode_e2e.sh installs code-server (cached), installs
the built .vsix, opens the example shop with a recorder made by driving it, and uses it through
headless Chromium. The Flux diagnostic must be in the Problems panel and squiggled on the
raising line, the status bar must show the server's count of failures, its hover must show the
recorded input, `Flux: Replay Incident…` must end with its verdict, `Flux: Show Trace…` must
open the report webview, and `Flux: Debug Request…` on the webhook must stop the editor on
line 12 with `cus_ABC` in the variables panel. Screenshots of each step are kept under
test-artifacts/vscode-e2e/. Where Node, Chromium or code-server cannot be installed the test is
skipped with the reason.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.extension import tools

SCRIPT = tools.REPO / "scripts" / "vscode_e2e.sh"
SKIP_EXIT = 3


def _run_once(
    out: Path,
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any], dict[str, Any]]:
    """One end-to-end run: (the process, its result.json, the checks that failed)."""
    for old in out.glob("*.*"):
        old.unlink()
    run = subprocess.run(
        ["bash", str(SCRIPT), "run", str(out)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if run.returncode == SKIP_EXIT:
        reason = next(
            (line for line in run.stdout.splitlines() if line.startswith("SKIP:")), "SKIP"
        )
        pytest.fail(f"VS Code end-to-end skipped: {reason.removeprefix('SKIP:').strip()}")
    result_file = out / "result.json"
    if not result_file.exists():
        return run, {"checks": {}, "error": f"no result.json\n{run.stderr[-3000:]}"}, {}
    result: dict[str, Any] = json.loads(result_file.read_text())
    failed = {name: c for name, c in result["checks"].items() if not c["ok"]}
    return run, result, failed


@pytest.mark.timeout(1200)  # a first run installs code-server and Debian packages
def test_flux_in_vscode_diagnostic_hover_replay_and_webview() -> None:
    if shutil.which("node") is None:
        pytest.fail("VS Code end-to-end skipped: Node.js is not installed")
    if not (tools.EXTENSION / "flux.vsix").exists():
        pytest.fail(
            "VS Code end-to-end skipped: vscode-extension/flux.vsix is not built (make extension)"
        )
    out = tools.artifacts("vscode-e2e")
    shutil.rmtree(out / "first-attempt", ignore_errors=True)
    # A real browser driving a real workbench: one retry absorbs a UI timing hiccup on a busy
    # machine; the first attempt's screenshots and output are kept beside the second's.
    for attempt in (1, 2):
        run, result, failed = _run_once(out)
        if run.returncode == 0 and not failed and "error" not in result:
            break
        if attempt == 1:
            first = out / "first-attempt"
            first.mkdir(exist_ok=True)
            for shot in out.glob("*.*"):
                shot.replace(first / shot.name)
            (first / "output.txt").write_text(f"{run.stdout}\n{run.stderr}")
    assert run.returncode == 0 and not failed and "error" not in result, (
        f"{json.dumps(failed, indent=1)}\n{result.get('error', '')}\n{run.stdout[-3000:]}"
    )
    assert set(result["checks"]) == {
        "problems panel lists the failure",
        "status bar shows the server's failure count",
        "squiggle on line 12",
        "hover shows the recorded input",
        "replay incident shows its verdict",
        "report webview draws the waterfall",
        "debugger stops on line 12",
        "variables panel shows cus_ABC",
        "continuing ends with the recorded error",
    }
    for shot in (
        "01-problems.png",
        "02-diagnostic-hover.png",
        "03-replay-verdict.png",
        "04-webview.png",
        "05-debug-stopped.png",
    ):
        assert (out / shot).stat().st_size > 20_000, shot
