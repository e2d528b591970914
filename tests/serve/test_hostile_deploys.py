"""Deploys whose code attacks the server at import: `os._exit`, an endless loop, an hour's
sleep, a huge allocation. Each is checked in a child process and fails within the check's
time limit with one line naming the file; the server keeps answering, and a good deploy and a
rollback work afterwards. A tar header bomb is refused before it is read."""

from __future__ import annotations

import io
import tarfile
import time
import zlib

import pytest

from tests.runtime.test_limits import rss_mb
from tests.serve.helpers import GOOD_FUNCTION, ServeProcess, file_member, tar_gz

TIMEOUT = 3.0

HOSTILE = {
    "exits": (b"import os\nos._exit(1)\n", "functions/exits.py: import exited with code 1"),
    "spins": (
        b"while True:\n    pass\n",
        f"functions/spins.py: import did not finish in {TIMEOUT:g} s",
    ),
    "sleeps": (
        b"import time\ntime.sleep(3600)\n",
        f"functions/sleeps.py: import did not finish in {TIMEOUT:g} s",
    ),
    "kills": (
        b"import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n",
        "functions/kills.py: import was killed by SIGKILL",
    ),
    "hogs": (
        b"hog = bytearray(4 * 1024 ** 3)\n",
        "functions/hogs.py:1: import failed: MemoryError",
    ),
}


def bundle(name: str, source: bytes) -> bytes:
    return tar_gz(
        [file_member("functions/ok.py", GOOD_FUNCTION), file_member(f"functions/{name}.py", source)]
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> ServeProcess:
    folder = tmp_path_factory.mktemp("hostile") / "server"
    folder.mkdir()
    (folder / ".env").write_text(
        f"FLUX_SERVER_DEPLOY_CHECK_TIMEOUT={TIMEOUT}\nFLUX_SERVER_DEPLOY_CHECK_MEMORY=512\n"
    )
    with ServeProcess(folder) as running:
        yield running


def test_hostile_imports_fail_their_deploy_and_nothing_else(server: ServeProcess) -> None:
    with server.client() as client:
        first = client.post(
            "/_flux/deploy", content=tar_gz([file_member("functions/ok.py", GOOD_FUNCTION)])
        )
        assert first.status_code == 200, first.text
        version = server.code_version()
        for name, (source, line) in HOSTILE.items():
            started = time.monotonic()
            r = client.post("/_flux/deploy", content=bundle(name, source))
            elapsed = time.monotonic() - started
            assert r.status_code == 400, (name, r.text)
            assert r.json()["error"].startswith(f"bundle rejected: {line}"), r.json()
            assert elapsed < TIMEOUT + 10, (name, elapsed)
            assert client.post("/ok").json() == {"ok": True}
            assert server.code_version() == version
        leftovers = [
            p.name for p in (server.project / ".flux" / "deployments").iterdir() if p.is_dir()
        ]
        assert len(leftovers) == 1, leftovers  # only the good deployment's folder

        good = tar_gz(
            [
                file_member("functions/ok.py", GOOD_FUNCTION),
                file_member("functions/two.py", b"async def handler(req, ctx):\n    return 2\n"),
            ]
        )
        assert client.post("/_flux/deploy", content=good).status_code == 200
        assert client.post("/two").json() == 2
        back = client.post("/_flux/rollback")
        assert back.status_code == 200, back.text
        assert server.code_version() == version
        assert client.post("/two").status_code == 404
    assert server.process is not None and server.process.poll() is None


def header_bomb(declared: int) -> bytes:
    """A small gzip whose tar starts with a PAX header declaring `declared` bytes of zeros."""
    header = tarfile.TarInfo("././@PaxHeader")
    header.type = tarfile.XHDTYPE
    header.size = declared
    block = header.tobuf(format=tarfile.USTAR_FORMAT)
    gz = zlib.compressobj(6, zlib.DEFLATED, 31)
    out = io.BytesIO()
    out.write(gz.compress(block))
    zeros = bytes(1024 * 1024)
    for _ in range(declared // len(zeros)):
        out.write(gz.compress(zeros))
    out.write(gz.flush())
    return out.getvalue()


def test_a_tar_header_bomb_is_refused_before_it_is_read(server: ServeProcess) -> None:
    assert server.process is not None
    data = header_bomb(300 * 1024 * 1024)
    assert len(data) < 2 * 1024 * 1024
    before = rss_mb(server.process.pid)
    with server.client() as client:
        r = client.post("/_flux/deploy", content=data)
    after = rss_mb(server.process.pid)
    assert r.status_code == 400
    assert "extended tar header of 314,572,800 bytes" in r.json()["error"]
    assert after - before < 64, (before, after)
