"""The seed's incident end to end: record it on the buggy shop, fix signup, replay the window.

The CLI runs as a real `flux` process against the recorded project, whose recorder is the file
or PostgreSQL (`store_backend`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from flux_lsp.model import short_id
from flux_lsp.project import Project
from flux_lsp.recorder.open_store import open_store
from flux_lsp.recorder.query import ExecutionQuery
from tests.recorders import recorder_database, use_recorder
from tests.replay.helpers import ROW_NOT_FOUND, Incident, fix_signup, record_incident

pytestmark = pytest.mark.usefixtures("backend")  # on SQLite and PostgreSQL


@pytest.fixture
def shop(shop: Path, backend_server: str | None) -> Iterator[Path]:
    """The example shop, recording to the backend under test."""
    with recorder_database(backend_server) as url:
        use_recorder(shop, url)
        yield shop


def _iso(stamp: float) -> str:
    return dt.datetime.fromtimestamp(stamp).isoformat()


async def flux(project: Path, *args: str) -> tuple[int, str, str]:
    """Run the real `flux` command line; (exit code, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "flux_lsp",
        *args,
        "--project",
        str(project),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "COLUMNS": "200"},
    )
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def window(incident: Incident) -> str:
    return f"{_iso(incident.since)}..{_iso(incident.until)}"


async def test_fixed_signup_resolves_the_incident(shop: Path) -> None:
    incident = await record_incident(shop)
    fix_signup(shop)

    code, out, err = await flux(shop, "incident", "replay", window(incident))

    assert code == 0, out + err
    lines = out.splitlines()
    assert lines[0].strip().startswith("Replaying 6 requests from ")
    assert lines[1].strip() == "Side-effects: email off · webhooks stubbed"
    webhook = short_id(incident.ids["webhook_ABC"])
    [line] = [x for x in lines if webhook in x]
    assert line.strip() == f"✔  {webhook}  POST /stripe_webhook  200  {line.split()[-4]}  ← was 500"
    ok_hook = short_id(incident.ids["webhook_1"])
    [line] = [x for x in lines if ok_hook in x]
    assert line.strip().startswith(f"✔  {ok_hook}  POST /stripe_webhook  200  ")
    assert "was" not in line
    assert "Still failing" not in out
    assert lines[-1].strip() == "6 replayed · 6 passing · 0 still failing  ✔ incident resolved"
    # Onboarding jobs the replayed signups enqueue are listed, not run.
    assert out.count("enqueued job send_onboarding_email (listed, not run)") == 2


async def test_without_the_fix_the_webhook_still_fails(shop: Path) -> None:
    incident = await record_incident(shop)

    code, out, err = await flux(shop, "incident", "replay", window(incident))

    assert code == 1, out + err
    webhook = short_id(incident.ids["webhook_ABC"])
    lines = out.splitlines()
    index = next(i for i, x in enumerate(lines) if webhook in x)
    assert lines[index].strip().startswith(f"✗  {webhook}  POST /stripe_webhook  500  ")
    assert "was" not in lines[index]
    assert lines[index + 1].strip() == f"└─ Still failing: {ROW_NOT_FOUND}"
    assert lines[-1].strip() == "6 replayed · 5 passing · 1 still failing  ✗ not resolved"


async def test_only_webhooks_show_their_event_types(shop: Path) -> None:
    incident = await record_incident(shop)
    fix_signup(shop)

    code, out, _ = await flux(
        shop, "incident", "replay", window(incident), "--function", "stripe_webhook"
    )

    # The filter narrows the report; the fixed signups still run first, so the webhook passes.
    assert code == 0
    lines = [x.strip() for x in out.splitlines() if x.strip()]
    assert lines[0] == "Replaying 2 Stripe webhook requests…"
    webhook = short_id(incident.ids["webhook_ABC"])
    assert f"✔  {webhook}  payment_intent.succeeded  200" in out
    assert lines[-1] == "2 replayed · 2 passing · 0 still failing  ✔ incident resolved"


async def test_json_report_and_recorded_replays(shop: Path) -> None:
    incident = await record_incident(shop)
    fix_signup(shop)

    code, out, _ = await flux(
        shop, "incident", "replay", window(incident), "--filter", "status=5xx", "--json"
    )

    assert code == 0, out
    report = json.loads(out)
    assert report["resolved"] is True and report["verdict"] == "✔ incident resolved"
    assert report["summary"]["replayed"] == 1 and report["summary"]["fixed"] == 1
    [outcome] = report["outcomes"]
    assert outcome["original_id"] == incident.ids["webhook_ABC"]
    assert (outcome["outcome"], outcome["status"], outcome["was_status"]) == ("fixed", "200", "500")
    assert outcome["event_type"] == "payment_intent.succeeded" and outcome["changed"] is True
    assert report["unreported"] == 5  # the other requests ran, unreported
    assert report["redone"] == 2  # the jobs did not: their recorded writes were re-applied

    store = await open_store(Project.load(shop).recorder_location)
    try:
        replay = await store.get(outcome["replay_id"])
        replays = await store.executions(ExecutionQuery(kind="replay", limit=None))
    finally:
        await store.close()
    assert replay.kind == "replay" and replay.parent_id == incident.ids["webhook_ABC"]
    assert replay.status == "200" and replay.id in [r.id for r in replays]
    assert len(replays) == 6
    assert replay.mutations == []  # a replay's writes went to the sandbox, not the live data


async def test_replay_one_execution(shop: Path) -> None:
    incident = await record_incident(shop)
    webhook = short_id(incident.ids["webhook_ABC"])

    code, out, _ = await flux(shop, "replay", webhook)
    assert code == 1
    assert f"✗  {webhook}  POST /stripe_webhook  500" in out
    assert f"Still failing: {ROW_NOT_FOUND}" in out

    # Replaying a single webhook uses the data as it was just before it: with the fix, the
    # recorded signup already created nothing, so it still fails; but cus_1's webhook passes.
    code, out, _ = await flux(shop, "replay", incident.ids["webhook_1"], "--json")
    assert code == 0 and json.loads(out)["outcomes"][0]["outcome"] == "passing"


async def test_empty_window_and_bad_input(shop: Path) -> None:
    await record_incident(shop)

    code, out, _ = await flux(shop, "incident", "replay", "2001-01-01T09:00..2001-01-01T09:20")
    assert code == 0
    assert out.strip() == "No recorded requests from 2001-01-01 09:00–09:20: nothing to replay."

    # Dates make the window unambiguous at any time of day (bare clock times can wrap midnight).
    window = "2001-01-01T09:20..2001-01-01T09:00"
    code, out, err = await flux(shop, "incident", "replay", window)
    assert code == 1 and out == ""
    assert err.strip() == f"flux: bad window '{window}': the end is not after the start"

    code, _, err = await flux(shop, "incident", "replay", "-1h..now", "--filter", "colour=red")
    assert code == 1 and err.startswith("flux: unknown filter key 'colour'")

    code, _, err = await flux(shop, "replay", "ffffffff")
    assert code == 1 and err.strip() == "flux: no execution matches 'ffffffff'"
