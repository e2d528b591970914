"""Bundles a server must refuse: each gets a 4xx saying why, and the running deployment is
untouched — same code version, same answers, no new deployment folder left behind."""

from __future__ import annotations

import gzip
import io
import os
import tarfile
from pathlib import Path

import httpx
import pytest

from tests.serve.helpers import (
    GOOD_FUNCTION,
    ServeProcess,
    file_member,
    special_member,
    tar_gz,
)


def good(*extra: tuple[tarfile.TarInfo, bytes | None]) -> bytes:
    return tar_gz([file_member("functions/ok.py", GOOD_FUNCTION), *extra])


def gzip_bomb(size: int) -> bytes:
    """A small upload that unpacks to `size` bytes of zeros."""
    raw = io.BytesIO()
    with gzip.GzipFile(fileobj=raw, mode="wb") as gz, tarfile.open(fileobj=gz, mode="w|") as tar:
        for name, data in (("functions/ok.py", GOOD_FUNCTION),):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        info = tarfile.TarInfo("templates/zeros.txt")
        info.size = size
        tar.addfile(info, _Zeros(size))
    return raw.getvalue()


class _Zeros(io.RawIOBase):
    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        n = min(len(buffer), self.left)
        buffer[:n] = bytes(n)
        self.left -= n
        return n

    def read(self, size: int = -1) -> bytes:
        n = self.left if size < 0 else min(size, self.left)
        self.left -= n
        return bytes(n)


CHAR, FIFO, SYM, LINK = tarfile.CHRTYPE, tarfile.FIFOTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE

BAD_BUNDLES: dict[str, tuple[bytes, str]] = {
    "dotdot": (good(file_member("../evil.py", b"x = 1\n")), "uses '..'"),
    "nested dotdot": (
        good(file_member("functions/../../evil.py", b"x = 1\n")),
        "uses '..'",
    ),
    "absolute": (good(file_member("/tmp/flux-evil.py", b"x = 1\n")), "is absolute"),
    "symlink": (good(special_member("functions/link.py", SYM, "/etc/passwd")), "is a link"),
    "hard link": (good(special_member("functions/hard.py", LINK, "functions/ok.py")), "is a link"),
    "device": (good(special_member("functions/dev", CHAR)), "is a device, FIFO"),
    "fifo": (good(special_member("templates/pipe", FIFO)), "is a device, FIFO"),
    "outside the four folders": (good(file_member("secrets.env", b"A=1\n")), "is not allowed"),
    "a top-level file named like a folder": (
        tar_gz([file_member("functions", b"x")]),
        "is not allowed",
    ),
    "import error": (
        good(file_member("functions/boom.py", b"raise RuntimeError('nope')\n")),
        "functions/boom.py:1: import failed: RuntimeError: nope",
    ),
    "exit at import": (
        good(file_member("functions/quit.py", b"import sys\nsys.exit(3)\n")),
        "functions/quit.py: import exited with code 3",
    ),
    "syntax error": (
        good(file_member("functions/typo.py", b"async def handler(req, ctx)\n  pass\n")),
        "syntax error",
    ),
    "no handler": (
        good(file_member("functions/empty.py", b"x = 1\n")),
        "functions/empty.py:1: no `handler`: define `async def handler(req, ctx)`",
    ),
    "sync handler": (
        good(file_member("functions/sync.py", b"x = 1\n\ndef handler(req, ctx):\n    pass\n")),
        "functions/sync.py:3: `handler` must be async",
    ),
    "bad function name": (
        good(file_member("functions/my-func.py", GOOD_FUNCTION)),
        "not a valid function name",
    ),
    "duplicate entry": (
        good(file_member("functions/ok.py", GOOD_FUNCTION)),
        "appears twice",
    ),
    "no functions": (tar_gz([file_member("templates/a.txt", b"hi")]), "has no functions"),
    "bad migration": (
        good(file_member("migrations/009_bad.sql", b"CREATE TABLE users (id TEXT);\n")),
        "migration 009_bad.sql failed",
    ),
    "bad flux.toml": (good(file_member("flux.toml", b"[email]\nprovider = 3\n")), "flux.toml"),
    "not an archive": (b"this is not gzip", "not a readable tar.gz"),
    "empty body": (b"", "the bundle is empty"),
    "gzip bomb": (gzip_bomb(51 * 1024 * 1024), "unpacks to more than"),
}


def deployment_folders(server: ServeProcess) -> set[str]:
    return {p.name for p in (server.project / ".flux" / "deployments").iterdir()}


@pytest.mark.parametrize("case", sorted(BAD_BUNDLES))
def test_bad_bundle_is_refused_and_nothing_changes(server: ServeProcess, case: str) -> None:
    bundle, reason = BAD_BUNDLES[case]
    before_version = server.code_version()
    before_folders = deployment_folders(server)
    with server.client() as client:
        r = client.post("/_flux/deploy", content=bundle)
        assert r.status_code == 400, r.text
        body = r.json()
        assert body["kind"] == "BundleRejected"
        assert body["error"].startswith("bundle rejected: ")
        assert reason in body["error"]
        assert "\n" not in body["error"]

        assert server.code_version() == before_version
        assert deployment_folders(server) == before_folders
        answer = client.post("/create_user", json={"name": "no email"})
        assert answer.status_code == 400
        assert answer.json() == {"error": "email required"}
        assert client.post("/ok").status_code == 404
    assert not Path("/tmp/flux-evil.py").exists()
    assert not (server.project.parent / "evil.py").exists()


def test_oversized_upload_is_refused(server: ServeProcess) -> None:
    before = server.code_version()
    with server.client() as client:
        big = os.urandom(21 * 1024 * 1024)
        try:
            r = client.post("/_flux/deploy", content=big)
        except httpx.HTTPError as exc:  # the server may close before the upload finishes
            pytest.fail(f"no answer to an oversized upload: {exc}")
        assert r.status_code == 413
        assert "larger than the server accepts" in r.json()["error"]
    assert server.code_version() == before
