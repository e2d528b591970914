"""`flux config`, and a bad flux.toml stopping `flux dev` and `flux deploy` with one line;
`.env` values reaching handlers but never a deploy bundle; `flux dev` re-reading flux.toml."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from flux_lsp.bundle import build_bundle, project_files
from flux_lsp.project import Project
from flux_lsp.runtime.server import WatchTask
from tests.cli.flux import flux
from tests.cli.test_errors import one_line_error
from tests.harness import FluxApp, write_function

TYPO = "flux: flux.toml:1: unknown section [recoder]; did you mean [recorder]?"


def _flux_process(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The installed `flux` in a child process (dev and serve would otherwise start serving)."""
    code = "from flux_lsp.cli.main import main; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=cwd, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("command", [["dev"], ["serve"], ["deploy", "--token", "t"]])
def test_a_typo_in_flux_toml_stops_the_command_with_one_line(
    shop: Path, command: list[str]
) -> None:
    (shop / "flux.toml").write_text("[recoder]\npath = 'r.db'\n")
    done = _flux_process(*command, "--project", str(shop), cwd=shop)
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip() == TYPO
    assert "Traceback" not in done.stderr


def test_config_lists_values_and_sources_but_never_a_secret(shop: Path) -> None:
    (shop / ".env").write_text("FLUX_EMAIL_SMTP_PASSWORD=hunter2-dotenv\n")
    result = flux("config", "--project", str(shop), "--json")
    rows = {row["key"]: row for row in result.json()}
    assert rows["queue.max_attempts"] == {
        "key": "queue.max_attempts",
        "value": 3,
        "source": "flux.toml:10",
        "env": "FLUX_QUEUE_MAX_ATTEMPTS",
        "secret": False,
    }
    assert rows["email.smtp.password"]["value"] == "set"
    assert rows["email.smtp.password"]["source"] == ".env (FLUX_EMAIL_SMTP_PASSWORD)"
    text = flux("config", "--project", str(shop))
    assert "hunter2" not in text.out + result.out
    assert "whsec_flux_example_secret" not in text.out
    assert "stripe.webhook_secret is a secret set in flux.toml" in text.out


def test_config_errors_are_one_line(tmp_path: Path) -> None:
    (tmp_path / "flux.toml").write_text("[queue]\nmax_attemps = 3\n")
    line = one_line_error(flux("config", "--project", str(tmp_path)))
    assert line == (
        "flux: flux.toml:2: unknown key `max_attemps` in [queue]; did you mean `max_attempts`?"
    )


def test_a_deploy_bundle_never_holds_dotenv(shop: Path) -> None:
    (shop / ".env").write_text("STRIPE_WEBHOOK_SECRET=whsec_planted\n")
    (shop / "functions" / ".env").write_text("STRIPE_WEBHOOK_SECRET=whsec_planted\n")
    files = project_files(Project.load(shop))
    assert not [name for name in files if name.endswith(".env")]
    assert b"whsec_planted" not in build_bundle(files)


DOTENV_READER = """\
import os


async def handler(req, ctx):
    return {"value": os.environ.get("SHOP_GREETING")}
"""


async def test_dev_reloads_flux_toml_and_dotenv_values_reach_handlers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SHOP_GREETING", raising=False)
    write_function(tmp_path, "greet", DOTENV_READER)
    (tmp_path / ".env").write_text("SHOP_GREETING=hello from .env\n")
    (tmp_path / "flux.toml").write_text("[queue]\nmax_attempts = 2\n")
    project = Project.load(tmp_path)
    assert project.export_env_file() == ["SHOP_GREETING"]
    async with FluxApp(tmp_path) as app:
        assert (await app.client.post("/greet")).json() == {"value": "hello from .env"}
        watcher = asyncio.create_task(WatchTask(app.runtime)())
        try:
            await asyncio.sleep(0.3)  # the watches are in place
            for attempts, text in ((5, "max_attempts = 5"), (5, "max_attemps = 6"), (7, "")):
                (tmp_path / "flux.toml").write_text(f"[queue]\n{text or 'max_attempts = 7'}\n")
                async with asyncio.timeout(10):
                    while app.runtime.project.settings.queue.max_attempts != attempts:
                        await asyncio.sleep(0.05)
                if text.startswith("max_attemps"):
                    await asyncio.sleep(0.5)  # a broken flux.toml keeps the settings
                    assert app.runtime.project.settings.queue.max_attempts == 5
        finally:
            watcher.cancel()
    os.environ.pop("SHOP_GREETING", None)
