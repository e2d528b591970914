"""What a handler prints and logs is kept in its execution record, bounded and redacted.

Shown by `flux trace` (text and `--json`) and `flux trace debug`, and found with
`flux tail --filter log~=text`; too much output is cut and marked, and the request still
succeeds.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from flux_lsp.runtime.output_capture import MAX_CHARS
from tests.cli.flux import flux
from tests.harness import FluxApp, write_function

CHATTY = """\
import logging
import sys

log = logging.getLogger(__name__)


async def handler(req, ctx):
    body = await req.json()
    print("charging", body["email"], end="")
    print(" now")
    print(f"card password={body['password']} api_key: sk_live_51abc")
    log.info("token for %s is %s", body["email"], body["token"])
    logging.getLogger().warning("slow path taken")
    print("to stderr", file=sys.stderr)
    return {"ok": True}
"""

FLOOD = """\
async def handler(req, ctx):
    for i in range(3000):
        print(f"line {i} " + "x" * 40)
    print("partial line without a newline", end="")
    return {"done": True}
"""

BODY = {"email": "a@x.com", "password": "hunter22", "token": "tok_8c1d2e3f"}


async def test_prints_and_logs_are_recorded_redacted(shop: Path) -> None:
    write_function(shop, "chatty", CHATTY)
    async with FluxApp(shop) as flux_app:
        r = await flux_app.client.post("/chatty", json=BODY)
        [execution] = await flux_app.recorded(r.headers["x-flux-request-id"])
    assert r.status_code == 200
    lines = [(e.source, e.message) for e in execution.logs]
    assert lines == [
        ("stdout", "charging a@x.com now"),
        ("stdout", "card password=[redacted] api_key: [redacted]"),
        ("INFO", "token for a@x.com is [redacted]"),
        ("WARNING", "slow path taken"),
        ("stderr", "to stderr"),
    ]
    assert execution.logs[2].logger == "flux_functions.chatty"
    assert all(0 <= e.at_ms <= execution.duration_ms for e in execution.logs)
    assert execution.logs_cut == 0


async def test_too_much_output_is_cut_and_marked(shop: Path) -> None:
    write_function(shop, "flood", FLOOD)
    async with FluxApp(shop) as flux_app:
        r = await flux_app.client.post("/flood", json={})
        [execution] = await flux_app.recorded(r.headers["x-flux-request-id"])
    assert r.status_code == 200 and r.json() == {"done": True}
    kept = sum(len(e.message) for e in execution.logs)
    assert kept <= MAX_CHARS + 1
    assert execution.logs_cut > 3000 * 40 - MAX_CHARS
    assert execution.logs[0].message.startswith("line 0 ")


async def record_chatty_and_quiet(shop: Path) -> tuple[str, str]:
    write_function(shop, "chatty", CHATTY)
    async with FluxApp(shop) as flux_app:
        quiet = await flux_app.client.post("/create_user", json={"email": "q@x", "name": "Q"})
        chatty = await flux_app.client.post("/chatty", json=BODY)
        flux_app.flush()
    return chatty.headers["x-flux-request-id"], quiet.headers["x-flux-request-id"]


def test_trace_debug_and_tail_show_and_find_the_output(shop: Path) -> None:
    chatty_id, quiet_id = asyncio.run(record_chatty_and_quiet(shop))
    ident = chatty_id[:8]
    shown = flux("trace", ident, "-p", str(shop))
    assert shown.code == 0, shown.err
    text = shown.out
    assert "Logs" in text and "charging a@x.com now" in text
    assert "token for a@x.com is [redacted]" in text and "hunter22" not in text
    report = flux("trace", ident, "-p", str(shop), "--json").json()
    assert [e["message"] for e in report["logs"]][:2] == [
        "charging a@x.com now",
        "card password=[redacted] api_key: [redacted]",
    ]
    assert report["logs_note"] is None
    debug = flux("trace", "debug", ident, "-p", str(shop))
    assert debug.code == 0, debug.err
    assert "Logs:" in debug.out and "slow path taken" in debug.out
    found = flux("tail", "-p", str(shop), "--json", "--filter", "log~=SLOW PATH").json()
    ids = [e["id"] for e in found["executions"]]
    assert ids == [chatty_id] and quiet_id not in ids
    none = flux("tail", "-p", str(shop), "--json", "--filter", "log~=hunter22").json()
    assert none["executions"] == []
