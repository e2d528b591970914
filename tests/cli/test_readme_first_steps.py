"""The README's "First steps" run as written, in a clean folder, with only the installed
package on the PATH (no checkout on the import path). The one liberty taken: `flux dev` gets a
free port through `FLUX_PORT`, and the `curl` line is pointed at it, so the test cannot collide
with anything else on the machine."""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.harness import REPO, free_port, terminal_signals

WAIT = 30.0


def first_steps() -> list[str]:
    """The commands of the first shell block under `## First steps`, comments dropped."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## First steps\n", 1)[1].split("\n## ", 1)[0]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    return [line.split("  #", 1)[0].strip() for line in block.splitlines() if line.strip()]


def wait_for_port(port: int, dev: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + WAIT
    while True:
        assert dev.poll() is None, "flux dev exited"
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        assert time.monotonic() < deadline, "flux dev did not start listening"
        time.sleep(0.05)


def test_first_steps_run_as_written(tmp_path: Path) -> None:
    port = free_port()
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.defpath]),
        "HOME": str(home),
        "FLUX_PORT": str(port),
        "LANG": "C.UTF-8",
    }
    cwd = tmp_path / "work"
    cwd.mkdir()
    dev: subprocess.Popen[str] | None = None
    outputs: dict[str, str] = {}
    try:
        for command in first_steps():
            words = shlex.split(command)
            if words[0] == "cd":
                cwd = cwd / words[1]
                continue
            if words[:2] == ["flux", "dev"]:
                dev = subprocess.Popen(
                    words, cwd=cwd, env=env, text=True,
                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, preexec_fn=terminal_signals,
                )  # fmt: skip
                wait_for_port(port, dev)
                continue
            command = command.replace("127.0.0.1:8000", f"127.0.0.1:{port}")
            deadline = time.monotonic() + WAIT
            while True:  # `flux tail` shows a request once its record is written
                r = subprocess.run(
                    command, shell=True, cwd=cwd, env=env, text=True,
                    capture_output=True, timeout=WAIT,
                )  # fmt: skip
                assert r.returncode == 0, f"{command}: {r.stdout}{r.stderr}"
                if words[:2] != ["flux", "tail"] or "JOB  count_words  done" in r.stdout:
                    break
                assert time.monotonic() < deadline, r.stdout
                time.sleep(0.2)
            outputs[words[0] + " " + words[1]] = r.stdout
    finally:
        if dev is not None:
            dev.send_signal(signal.SIGINT)
            dev.wait(timeout=WAIT)
    assert "create_note  HTTP /create_note" in outputs["flux functions"]
    assert '"id"' in outputs["curl -s"]
    assert "POST /create_note  201" in outputs["flux tail"]
    assert "notes.id=" in outputs["flux tail"]
