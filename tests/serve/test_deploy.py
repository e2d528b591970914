"""The seed's last step for real: `flux deploy` the buggy shop to a `flux serve` process, see the
webhook fail, deploy the fix, see it succeed with the new code hash, then roll back."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path

import httpx

from flux_lsp.model import Execution
from flux_lsp.recorder.remote_store import RemoteStore
from flux_lsp.runtime.stripe import signed_webhook
from tests.harness import copy_shop
from tests.serve.helpers import SECRET, TOKEN, ServeProcess, fixed_signup, flux

DEPLOYED = re.compile(r"deployed (\w+)\s+code version (\w+)")


def payment(customer_id: str) -> tuple[bytes, dict[str, str]]:
    event = {
        "id": f"evt_{customer_id}",
        "object": "event",
        "type": "payment_intent.succeeded",
        "data": {"object": {"id": "pi_1", "customer_id": customer_id, "amount": 4900}},
    }
    return signed_webhook(event, SECRET)


def signup_then_pay(client: httpx.Client, customer_id: str) -> httpx.Response:
    r = client.post(
        "/signup", json={"email": f"{customer_id}@shop.test", "customer_id": customer_id}
    )
    assert r.status_code == 201, r.text
    body, headers = payment(customer_id)
    return client.post("/stripe_webhook", content=body, headers=headers)


def recorded(url: str, request_id: str) -> Execution:
    """The execution as the server recorded it (waiting for the recorder's batch)."""

    async def fetch() -> Execution:
        store = await RemoteStore.open(url, token=TOKEN)
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    return await store.get(request_id)
                except Exception:
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.05)
        finally:
            await store.close()

    return asyncio.run(fetch())


def tail_webhooks(url: str) -> list[dict[str, object]]:
    r = flux("tail", "--server", url, "--filter", "path=/stripe_webhook", "--json")
    assert r.returncode == 0, r.stderr
    return list(json.loads(r.stdout)["executions"])


def test_deploy_the_fix_then_roll_back(tmp_path: Path) -> None:
    server_dir = tmp_path / "server"
    server_dir.mkdir()
    shop = copy_shop(tmp_path)
    with ServeProcess(server_dir) as server, httpx.Client(base_url=server.url) as client:
        assert "admin API on /_flux/" in server.output()

        # 1. the buggy shop goes live
        r = flux("deploy", "-p", str(shop), "--server", server.url)
        assert r.returncode == 0, r.stderr
        match = DEPLOYED.search(r.stdout)
        assert match, r.stdout
        buggy_id, buggy_version = match.groups()
        assert "added    functions/signup.py" in r.stdout
        assert "migrated 001_users.sql" in r.stdout
        assert server.code_version() == buggy_version

        failed = signup_then_pay(client, "cus_ABC")
        assert failed.status_code == 500
        assert "Row not found: subscriptions WHERE customer_id = 'cus_ABC'" in failed.text
        failed_record = recorded(server.url, failed.headers["x-flux-request-id"])
        assert failed_record.code_version == buggy_version
        assert failed_record.error is not None
        assert failed_record.error.location is not None
        assert failed_record.error.location.file == "functions/stripe_webhook.py"

        # 2. the fix: signup creates the subscription row before payment starts
        (shop / "functions" / "signup.py").write_text(fixed_signup())
        r = flux("deploy", "-p", str(shop), "--server", server.url)
        assert r.returncode == 0, r.stderr
        match = DEPLOYED.search(r.stdout)
        assert match, r.stdout
        fixed_id, fixed_version = match.groups()
        assert fixed_version != buggy_version and fixed_id != buggy_id
        assert f"(was {buggy_version})" in r.stdout
        assert "changed  functions/signup.py" in r.stdout
        assert "added" not in r.stdout and "removed" not in r.stdout

        fixed = signup_then_pay(client, "cus_DEF")
        assert fixed.status_code == 200, fixed.text
        fixed_record = recorded(server.url, fixed.headers["x-flux-request-id"])
        assert fixed_record.code_version == fixed_version

        lines = tail_webhooks(server.url)
        by_id = {line["id"]: line for line in lines}
        assert by_id[fixed_record.id]["status"] == "200"
        assert by_id[failed_record.id]["status"] == "500"

        # 3. rollback returns to the buggy deployment and its hash
        r = flux("deploy", "--rollback", "--server", server.url)
        assert r.returncode == 0, r.stderr
        assert f"rolled back to {buggy_id}" in r.stdout
        assert f"(was {fixed_id})" in r.stdout
        assert "changed  functions/signup.py" in r.stdout
        assert server.code_version() == buggy_version
        again = signup_then_pay(client, "cus_GHI")
        assert again.status_code == 500
        assert recorded(server.url, again.headers["x-flux-request-id"]).code_version == (
            buggy_version
        )

        # 4. nothing before the first deployment to roll back to
        r = flux("deploy", "--rollback", "--server", server.url)
        assert r.returncode == 1
        assert r.stderr.strip() == "flux: no previous deployment to roll back to"

    # 5. a restarted server comes back on the active deployment
    with ServeProcess(server_dir) as server:
        assert server.code_version() == buggy_version


def test_deploy_cli_errors_are_one_line(tmp_path: Path) -> None:
    server_dir = tmp_path / "server"
    server_dir.mkdir()
    shop = copy_shop(tmp_path)
    with ServeProcess(server_dir) as server:
        r = flux("deploy", "-p", str(shop), "--server", server.url, "--token", "wrong")
        assert r.returncode == 1
        assert r.stderr.strip().splitlines()[-1] == (
            f"flux: {server.url} refused the token: pass --token or set FLUX_TOKEN"
        )

        (shop / "functions" / "broken.py").write_text("import not_a_module_anywhere\n")
        r = flux("deploy", "-p", str(shop), "--server", server.url)
        assert r.returncode == 1
        lines = r.stderr.strip().splitlines()
        assert lines[-1].startswith(
            "flux: bundle rejected: functions/broken.py:1: import failed: ModuleNotFoundError"
        )
        assert "Traceback" not in r.stderr

    r = flux("deploy", "-p", str(shop), "--server", server.url)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines()[-1].startswith(f"flux: cannot reach {server.url}")

    r = flux("deploy", "-p", str(shop), "--server", server.url, token=None)
    assert r.returncode == 1
    assert (
        r.stderr.strip()
        == "flux: no token: pass --token, or set FLUX_TOKEN (in the environment or .env)"
    )


def test_deploy_dry_run_checks_and_shows_the_diff_without_deploying(tmp_path: Path) -> None:
    server_dir = tmp_path / "server"
    server_dir.mkdir()
    shop = copy_shop(tmp_path)
    with ServeProcess(server_dir) as server:
        before = server.code_version()

        r = flux("deploy", "--dry-run", "--json", "-p", str(shop), "--server", server.url)
        assert r.returncode == 0, r.stderr
        plan = json.loads(r.stdout)
        assert plan["dry_run"] is True and plan["previous_code_version"] == before
        assert "functions/signup.py" in plan["changes"]["added"]
        assert plan["migrations_applied"] == ["001_users.sql", "002_subscriptions.sql"]
        assert server.code_version() == before
        with server.client() as c:
            assert c.get("/_flux/deployments").json()["history"] == []
            assert c.post("/signup", json={}).status_code == 404

        r = flux("deploy", "--json", "-p", str(shop), "--server", server.url)
        assert r.returncode == 0, r.stderr
        done = json.loads(r.stdout)
        assert done["dry_run"] is False and done["code_version"] == plan["code_version"]
        assert server.code_version() == plan["code_version"]

        (shop / "functions" / "signup.py").write_text(fixed_signup())
        r = flux("deploy", "--dry-run", "-p", str(shop), "--server", server.url)
        assert r.returncode == 0, r.stderr
        assert "dry run, nothing deployed" in r.stdout
        assert "changed  functions/signup.py" in r.stdout
        assert server.code_version() == done["code_version"]

        (shop / "functions" / "signup.py").write_text("async def handler(req, ctx)\n")
        r = flux("deploy", "--dry-run", "-p", str(shop), "--server", server.url)
        assert r.returncode == 1
        assert r.stderr.splitlines()[-1].startswith("flux: bundle rejected: functions/signup.py:1")
        assert server.code_version() == done["code_version"]
