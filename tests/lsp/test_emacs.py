"""Other clients no one here wrote: Emacs' eglot and lsp-mode (Debian's emacs, elpa-eglot and
elpa-lsp-mode) in batch mode.

eglot connects to `flux lsp`, Flymake shows the recorded failure on the raising line, and
`eglot-code-actions` there runs "Flux: Why" as a user would (the action picked at the prompt).
lsp-mode runs the README's add-on registration and executes the same action. Neither opens
documents, so the server sends the verdict with window/showMessage. Skipped where Emacs or the
package is not installed (`apt-get install emacs-nox elpa-eglot elpa-lsp-mode`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.lsp.recording import WEBHOOK, Recording

EMACS = shutil.which("emacs")
SCRIPTS = {
    "eglot": Path(__file__).with_name("emacs_eglot_why.el"),
    "lsp-mode": Path(__file__).with_name("emacs_lsp_mode_why.el"),
}


def _has(package: str) -> bool:
    if EMACS is None:
        return False
    probe = subprocess.run(
        [EMACS, "--batch", "--eval", f"(progn (require '{package}) (kill-emacs 0))"],
        capture_output=True,
        timeout=60,
    )
    return probe.returncode == 0


@pytest.mark.parametrize(
    "package",
    [name for name in SCRIPTS],
)
def test_emacs_runs_why_as_a_code_action_and_is_shown_the_root_cause(
    recording: Recording, tmp_path: Path, package: str
) -> None:
    # make test installs Emacs with eglot and lsp-mode (scripts/ensure-editors.sh)
    if not _has(package):
        pytest.fail(f"emacs with {package} is not installed: run scripts/ensure-editors.sh")
    assert EMACS is not None
    out = tmp_path / "emacs.json"
    subprocess.run(
        [EMACS, "--batch", "-l", str(SCRIPTS[package])],
        env={
            **os.environ,
            "FLUX_PROJECT": str(recording.project),
            "FLUX_FILE": str(recording.project / WEBHOOK),
            "FLUX_OUT": str(out),
            "FLUX_PYTHON": sys.executable,
            "HOME": str(tmp_path),
        },
        cwd=recording.project,
        timeout=180,
        check=True,
        capture_output=True,
    )
    seen = json.loads(out.read_text())
    rid = f"req:{recording.failed_webhooks[-1][:8]}"
    lines = recording.text(WEBHOOK).splitlines()
    assert "await ctx.db.update(" in lines[seen["line"] - 1]
    assert "Row not found: subscriptions WHERE customer_id = " in seen["diagnostic"]
    assert seen["titles"][0] == f"Flux: Why {rid}"
    (shown,) = seen["shown"]
    assert shown.startswith(
        f"Flux: why {rid} — POST /stripe_webhook → 500: Row not found: subscriptions WHERE "
        "customer_id = "
    )
