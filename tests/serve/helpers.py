"""Helpers for the `flux serve` tests: a real server process, the CLI, and hand-made bundles.

`ServeProcess` starts `flux serve` as a subprocess on a free loopback port with `FLUX_TOKEN`
set and waits until it answers; `flux()` runs the real CLI in a subprocess; `bundle_of` builds
the bundle `flux deploy` would upload for a project folder; `tar_gz` builds archives member by
member, including the malicious kinds a server must refuse.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import httpx

from examples.shop_story import SECRET, fixed_signup
from flux_lsp.bundle import build_bundle, project_files
from flux_lsp.project import Project
from tests.harness import free_port

__all__ = ["SECRET", "fixed_signup"]

TOKEN = "flux-test-token-7d1c"


def env(token: str | None = TOKEN, **extra: str) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if k not in ("FLUX_TOKEN", "FLUX_SERVER")}
    if token is not None:
        out["FLUX_TOKEN"] = token
    out.update(extra)
    return out


def flux(
    *args: str, token: str | None = TOKEN, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real `flux` command line and capture what it prints."""
    return subprocess.run(
        [sys.executable, "-m", "flux_lsp", *args],
        capture_output=True,
        text=True,
        env=env(token),
        cwd=cwd,
        timeout=120,
    )


@dataclass
class ServeProcess:
    """`flux serve` (or `command="dev"`) on 127.0.0.1 as a subprocess, for one project folder."""

    project: Path
    token: str | None = TOKEN
    command: str = "serve"
    url: str = ""
    process: subprocess.Popen[str] | None = None

    def __enter__(self) -> ServeProcess:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.log = self.project.parent / f"serve-{port}.log"
        self._log_file = self.log.open("w")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "flux_lsp",
                self.command,
                "-p",
                str(self.project),
                "--port",
                str(port),
            ],
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            text=True,
            env=env(self.token),
        )
        deadline = time.monotonic() + 30
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"flux {self.command} exited early:\n{self.output()}")
            try:
                httpx.get(self.url + "/_flux/stats", timeout=1)
                return self
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"flux {self.command} did not start:\n{self.output()}"
                    ) from None
                time.sleep(0.05)

    def output(self) -> str:
        return self.log.read_text()

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log_file.close()

    def client(self, token: str | None = TOKEN) -> httpx.Client:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)

    def code_version(self) -> str:
        with self.client() as c:
            return str(c.get("/_flux/deployments").json()["code_version"])


def bundle_of(project: Path) -> bytes:
    """The deploy bundle of a project folder, as `flux deploy` builds it."""
    return build_bundle(project_files(Project.load(project)))


def tar_gz(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    """A tar.gz of exactly these members (data for regular files, None otherwise)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    return raw.getvalue()


def file_member(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.mode = 0o644
    return info, data


def special_member(name: str, kind: bytes, linkname: str = "") -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info, None


GOOD_FUNCTION = b"async def handler(req, ctx):\n    return {'ok': True}\n"
