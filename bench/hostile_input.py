"""Hostile input against real Flux processes: the figures of BENCHMARKS.md's reliability section.

- A 200 MB streamed body to `flux dev`: seconds to the 413, and the server's RSS growth.
- Deploys to `flux serve` whose function exits, spins, sleeps, kills itself or allocates 4 GB at
  import: seconds until each deploy fails, and whether the server answered in between.
- A tar header bomb (a PAX header declaring 300 MB): refused, and the RSS growth.

Run: `.venv/bin/python bench/hostile_input.py` (about a minute).
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.harness import copy_shop  # noqa: E402
from tests.runtime.test_limits import rss_mb, stream_body  # noqa: E402
from tests.serve.helpers import GOOD_FUNCTION, ServeProcess, file_member, tar_gz  # noqa: E402
from tests.serve.test_hostile_deploys import HOSTILE, TIMEOUT, bundle, header_bomb  # noqa: E402


def bodies(root: Path) -> None:
    root.mkdir(parents=True)
    shop = copy_shop(root)
    (shop / "functions" / "take.py").write_text(
        "async def handler(req, ctx):\n    return {'n': len(await req.body())}\n"
    )
    with ServeProcess(shop, command="dev") as dev:
        assert dev.process is not None
        before = rss_mb(dev.process.pid)
        status, seconds, sent = asyncio.run(stream_body(dev.url, "/take", 200))
        after = rss_mb(dev.process.pid)
    print(
        f"200 MB streamed body: {status.decode().strip()} after {seconds:.2f} s "
        f"({sent} MB sent); server RSS {before:.0f} → {after:.0f} MB (+{after - before:.0f})"
    )


def deploys(root: Path) -> None:
    folder = root / "server"
    folder.mkdir(parents=True)
    (folder / ".env").write_text(
        f"FLUX_SERVER_DEPLOY_CHECK_TIMEOUT={TIMEOUT}\nFLUX_SERVER_DEPLOY_CHECK_MEMORY=512\n"
    )
    with ServeProcess(folder) as server, server.client() as client:
        assert server.process is not None
        good = tar_gz([file_member("functions/ok.py", GOOD_FUNCTION)])
        assert client.post("/_flux/deploy", content=good).status_code == 200
        for name, (source, _) in HOSTILE.items():
            started = time.monotonic()
            r = client.post("/_flux/deploy", content=bundle(name, source))
            seconds = time.monotonic() - started
            served = client.post("/ok").status_code == 200
            print(
                f"deploy {name:<7} {r.status_code} in {seconds:5.2f} s "
                f"(check timeout {TIMEOUT:g} s); served in between: {served}; "
                f"{r.json()['error']}"
            )
        bomb = header_bomb(300 * 1024 * 1024)
        before = rss_mb(server.process.pid)
        started = time.monotonic()
        r = client.post("/_flux/deploy", content=bomb)
        after = rss_mb(server.process.pid)
        print(
            f"header bomb: {r.status_code} in {time.monotonic() - started:.2f} s; "
            f"server RSS {before:.0f} → {after:.0f} MB (+{after - before:.0f})"
        )
        print(f"server still running: {server.process.poll() is None}")


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="flux-bench-hostile-"))
    try:
        bodies(root / "bodies")
        deploys(root / "deploys")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
