"""`flux lsp` ends its process once the server has stopped, even if a thread is still held."""

from __future__ import annotations

import subprocess
import sys

HOLDS_A_THREAD = """
import threading
threading.Thread(target=threading.Event().wait, name="left-open").start()
from flux_lsp.cli.lsp_commands import exit_if_held
exit_if_held()
print("not reached")
"""


def test_a_thread_left_running_does_not_keep_the_server_alive() -> None:
    done = subprocess.run(
        [sys.executable, "-c", HOLDS_A_THREAD], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0
    assert "not reached" not in done.stdout
    assert "exiting with threads held: left-open" in done.stderr
