"""What the extension tests need from outside Python: the built extension, Node and Chromium.

Each finder returns the thing or a reason it is missing, so a test can skip saying why (never
pass silently). Chromium is installed from Debian's packages when it is missing and we are root.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXTENSION = REPO / "vscode-extension"
ARTIFACTS = REPO / "test-artifacts"


def node() -> tuple[str | None, str]:
    found = shutil.which("node")
    return (found, "") if found else (None, "Node.js is not installed")


def chromium() -> tuple[str | None, str]:
    """Debian's chromium, installed with apt-get when missing (as root)."""
    found = shutil.which("chromium")
    if found:
        return found, ""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return None, "chromium is not installed and apt-get cannot install it here (not root)"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            return None, f"apt-get could not install chromium: {tail[0]}"
    found = shutil.which("chromium")
    return (found, "") if found else (None, "chromium installed but not on PATH")


def built_extension() -> tuple[bool, str]:
    """The bundle, the standalone renderer and playwright-core, as `make extension` leaves them."""
    needed = [
        EXTENSION / "dist" / "extension.js",
        EXTENSION / "dist" / "render-cli.js",
        EXTENSION / "node_modules" / "playwright-core",
    ]
    missing = [str(p.relative_to(REPO)) for p in needed if not p.exists()]
    if missing:
        return (
            False,
            f"the extension is not built ({', '.join(missing)} missing): run `make extension`",
        )
    return True, ""


def artifacts(name: str) -> Path:
    path = ARTIFACTS / name
    path.mkdir(parents=True, exist_ok=True)
    return path
