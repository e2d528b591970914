"""A client no one here wrote: headless Neovim's built-in LSP client against `flux lsp`.

Neovim opens the failing webhook, attaches the server, and the diagnostics it reads back with
`vim.diagnostic.get()` must be the recorded failure on the raising line. `make test` installs
Neovim where it can (scripts/ensure-editors.sh); elsewhere this test is skipped.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.lsp.recording import WEBHOOK, Recording

NVIM = shutil.which("nvim")
SCRIPT = Path(__file__).with_name("neovim_diagnostics.lua")
ATTACH = Path(__file__).with_name("neovim_attach.lua")


def _nvim() -> str:
    """make test installs Neovim (scripts/ensure-editors.sh): a missing one is a failure."""
    if NVIM is None:
        pytest.fail("nvim is not installed: run scripts/ensure-editors.sh (make test does)")
    return NVIM


def run_neovim(script: Path, recording: Recording, tmp_path: Path, **env: str) -> Any:
    """Run `script` in headless Neovim on the recorded shop's webhook; what it wrote to
    $FLUX_OUT, as JSON."""
    out = tmp_path / "out.json"
    subprocess.run(
        [_nvim(), "--headless", "--clean", "-u", "NONE", "-c", f"luafile {script}"],
        env={
            **os.environ,
            "FLUX_PROJECT": str(recording.project),
            "FLUX_FILE": str(recording.project / WEBHOOK),
            "FLUX_OUT": str(out),
            "FLUX_PYTHON": sys.executable,
            "FLUX_ATTACH": str(ATTACH),
            "XDG_STATE_HOME": str(tmp_path / "state"),
            "XDG_DATA_HOME": str(tmp_path / "data"),
            **env,
        },
        cwd=recording.project,
        timeout=120,
        check=True,
        capture_output=True,
    )
    return json.loads(out.read_text())


def test_neovim_reads_the_flux_diagnostic(recording: Recording, tmp_path: Path) -> None:
    diagnostics = run_neovim(SCRIPT, recording, tmp_path)
    assert len(diagnostics) == 1, diagnostics
    (d,) = diagnostics
    lines = recording.text(WEBHOOK).splitlines()
    assert "await ctx.db.update(" in lines[d["lnum"]]
    assert d["col"] == lines[d["lnum"]].index("await")
    assert d["severity"] == 1  # vim.diagnostic.severity.ERROR
    assert d["source"] == "flux"
    assert d["message"].startswith("Row not found: subscriptions WHERE customer_id = 'cus_DEF'")
    assert "2× in 24h, latest req:" in d["message"]


WHY_SCRIPT = Path(__file__).with_name("neovim_why.lua")


@pytest.mark.parametrize("mode", ["message", "document"])
def test_neovim_runs_why_as_a_code_action_and_is_shown_the_root_cause(
    recording: Recording, tmp_path: Path, mode: str
) -> None:
    """Neovim does not render Flux's reports: the server shows the answer itself, as a
    document where the client can open one, else as a message."""
    *shown, titles = run_neovim(WHY_SCRIPT, recording, tmp_path, FLUX_MODE=mode)
    rid = f"req:{recording.failed_webhooks[-1][:8]}"
    assert titles["titles"][0] == f"Flux: Why {rid}"
    (answer,) = shown
    assert answer["kind"] == mode
    if mode == "document":
        assert answer["uri"].endswith(f"/.flux/reports/why-{rid[4:]}.md")
        assert "**ROOT CAUSE** Row not found: subscriptions WHERE customer" in answer["text"]
    else:
        assert answer["text"].startswith(
            f"Flux: why {rid} — POST /stripe_webhook → 500: Row not found: subscriptions WHERE "
            "customer_id = "
        )
