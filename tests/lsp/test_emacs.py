"""Another client no one here wrote: Emacs' eglot (Debian's emacs and elpa-eglot) in batch mode.

eglot connects to `flux lsp`, Flymake shows the recorded failure on the raising line, and
`eglot-code-actions` there runs "Flux: Why" as a user would (the action picked at the prompt).
eglot 1.9 cannot show documents, so the server sends the verdict with window/showMessage.
Skipped where Emacs or eglot is not installed (`apt-get install emacs-nox elpa-eglot`).
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
SCRIPT = Path(__file__).with_name("emacs_eglot_why.el")


def _has_eglot() -> bool:
    if EMACS is None:
        return False
    probe = subprocess.run(
        [EMACS, "--batch", "--eval", "(progn (require 'eglot) (kill-emacs 0))"],
        capture_output=True,
        timeout=60,
    )
    return probe.returncode == 0


@pytest.mark.skipif(not _has_eglot(), reason="emacs with eglot is not installed")
def test_eglot_runs_why_as_a_code_action_and_is_shown_the_root_cause(
    recording: Recording, tmp_path: Path
) -> None:
    assert EMACS is not None
    out = tmp_path / "emacs.json"
    subprocess.run(
        [EMACS, "--batch", "-l", str(SCRIPT)],
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
