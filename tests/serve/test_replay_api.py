"""`flux replay --server` and `flux incident replay --server`: the server replays in its own
sandbox, against the code it runs, and streams the outcomes back to the command line."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from flux_lsp.model import short_id
from tests.harness import copy_shop
from tests.serve.helpers import ServeProcess, bundle_of, fixed_signup, flux
from tests.serve.test_deploy import recorded, signup_then_pay


def test_replays_run_on_the_server_and_stream_back(tmp_path: Path) -> None:
    server_dir = tmp_path / "server"
    server_dir.mkdir()
    shop = copy_shop(tmp_path)
    with ServeProcess(server_dir) as server, server.client() as admin:
        assert admin.post("/_flux/deploy", content=bundle_of(shop)).status_code == 200
        with httpx.Client(base_url=server.url) as client:
            failed = signup_then_pay(client, "cus_ABC")
        assert failed.status_code == 500
        ident = failed.headers["x-flux-request-id"]
        recorded(server.url, ident)

        # on the buggy code the webhook still fails: exit 1, the report as JSON
        r = flux("replay", ident, "--server", server.url, "--json")
        assert r.returncode == 1, r.stderr
        report = json.loads(r.stdout)
        [outcome] = report["outcomes"]
        assert (outcome["original_id"], outcome["outcome"]) == (ident, "still_failing")
        assert report["code_version"] == server.code_version()

        r = flux("replay", short_id(ident), "--server", server.url)
        assert r.returncode == 1
        assert f"✗  {short_id(ident)}  POST /stripe_webhook  500" in r.stdout
        assert "Still failing: Row not found: subscriptions" in r.stdout

        # the fix is deployed: the incident's window, replayed by the server, is resolved
        (shop / "functions" / "signup.py").write_text(fixed_signup())
        assert admin.post("/_flux/deploy", content=bundle_of(shop)).status_code == 200
        r = flux("incident", "replay", "-10m..now", "--server", server.url)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "Replaying 2 requests" in r.stdout
        assert f"✔  {short_id(ident)}  POST /stripe_webhook  200" in r.stdout
        assert "← was 500" in r.stdout and "incident resolved" in r.stdout

        # the replays are in the server's recorder, kept apart from live traffic
        live = json.loads(flux("tail", "--server", server.url, "--json").stdout)
        assert live["executions"] and all(e["kind"] != "replay" for e in live["executions"])
        replays = flux("tail", "--server", server.url, "--json", "--filter", "kind=replay")
        assert len(json.loads(replays.stdout)["executions"]) >= 3

        # bad input: one line each
        r = flux("replay", "ffffffff", "--server", server.url)
        assert r.returncode == 1 and r.stderr == "flux: no execution matches 'ffffffff'\n"
        r = flux("replay", ident, "--server", server.url, token="wrong")
        assert r.returncode == 1
        assert r.stderr.strip().endswith("refused the token: pass --token or set FLUX_TOKEN")
        r = flux("incident", "replay", "-10m..now", "--filter", "nope=1", "--server", server.url)
        assert r.returncode == 1 and r.stderr.startswith("flux: unknown filter key 'nope'")
