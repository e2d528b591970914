"""`flux debug <id>`: the seed's failing Stripe webhook and its onboarding job, stepped through
with a real DAP client attached to debugpy over loopback."""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import signal
import socket
from pathlib import Path

import pytest

from examples.shop_story import ROW_NOT_FOUND
from flux_lsp.replay import guard
from tests.cli.flux import flux
from tests.cli.incident import Incident
from tests.replay.dap import DapClient, DapError, debugging, start_debug

WEBHOOK = "functions/stripe_webhook.py"

FIXED_WEBHOOK = """\
\"\"\"POST /stripe_webhook — fixed: a payment that arrives first creates the subscription.\"\"\"

from starlette.responses import Response


async def handler(req, ctx):
    event = await ctx.stripe.verify_webhook(req)

    if event["type"] == "payment_intent.succeeded":
        obj = event["data"]["object"]
        customer_id, amount = obj["customer_id"], obj["amount"]
        rows = await ctx.db.update(
            "subscriptions",
            {"customer_id": customer_id},
            {"status": "active", "paid_at": ctx.now()},
            missing_ok=True,
        )
        if not rows:
            await ctx.db.insert(
                "subscriptions", {"customer_id": customer_id, "status": "active"}
            )
        await ctx.email.send(to=customer_id, template="payment_success", data={"amount": amount})

    return Response("ok", status_code=200)
"""


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def test_webhook_stops_at_the_failing_line_with_the_recorded_values(
    incident: Incident,
) -> None:
    webhook = str((incident.project / WEBHOOK).resolve())
    app_db = incident.project / ".flux" / "app.db"
    before = _digest(app_db)
    async with debugging(incident.project, incident.failed_webhook) as (run, dap):
        assert run.endpoint["host"] == "127.0.0.1"
        assert run.endpoint["stop_at"] == {"file": webhook, "line": 12}
        await dap.attach({webhook: [10]})
        first = await dap.stopped()
        assert (first.file, first.line) == (webhook, 10)
        assert "customer_id" not in first.variables
        await dap.request("continue", threadId=first.thread)
        stop = await dap.stopped()
        assert (Path(stop.file).name, stop.line) == ("stripe_webhook.py", 12)
        assert stop.variables["customer_id"] == "'cus_ABC'"
        assert stop.variables["amount"] == "4900"
        code, outcome = await run.to_the_end(dap, stop)
    assert code == 1
    assert outcome["outcome"] == "still_failing"
    assert outcome["detail"] == f"Still failing: {ROW_NOT_FOUND}"
    assert _digest(app_db) == before


async def _values_at_failure(dap: DapClient) -> dict[str, str]:
    await dap.attach()
    stop = await dap.stopped()
    values = {k: v for k, v in stop.variables.items() if " object at 0x" not in v}
    values["now"] = await dap.evaluate("ctx.now()", stop.frame)
    await dap.request("continue", threadId=stop.thread)
    return values


async def test_after_the_fix_the_same_session_runs_to_passing(incident: Incident) -> None:
    async with debugging(
        incident.project, incident.failed_webhook, buffers={WEBHOOK: FIXED_WEBHOOK}
    ) as (run, dap):
        await dap.attach()
        stop = await dap.stopped()  # the recorded failing line: still where it failed
        assert stop.line == 12
        assert stop.variables["customer_id"] == "'cus_ABC'"
        code, outcome = await run.to_the_end(dap, stop)
    assert code == 0
    assert (outcome["outcome"], outcome["status"]) == ("fixed", "200")


async def test_two_sessions_on_one_id_see_identical_values(incident: Incident) -> None:
    seen = []
    for _ in range(2):
        async with debugging(incident.project, incident.failed_webhook) as (run, dap):
            seen.append(await _values_at_failure(dap))
            await dap.event("terminated")
            await run.finish()
    assert seen[0] == seen[1]
    assert seen[0]["customer_id"] == "'cus_ABC'"
    assert seen[0]["now"].startswith("datetime.datetime(")


async def test_no_outbound_connection_and_the_debug_console_is_guarded(
    incident: Incident,
) -> None:
    """The session's own guard refuses what the debug console tries, and the run made no
    other connection (its report would say "made a network call outside ctx.http")."""
    async with debugging(incident.project, incident.failed_webhook) as (run, dap):
        await dap.attach()
        stop = await dap.stopped()
        with pytest.raises(DapError, match=r"outside ctx\.http: 192\.0\.2\.1:80"):
            await dap.evaluate(
                "__import__('socket').create_connection(('192.0.2.1', 80), timeout=1)", stop.frame
            )
        await dap.request("continue", threadId=stop.thread)
        code, report, _ = await run.finish()
    assert code == 1
    assert report["outcomes"][0]["error"] == ROW_NOT_FOUND


async def test_a_job_is_debugged_the_same_way(incident: Incident) -> None:
    job_file = str((incident.project / "functions/send_onboarding_email.py").resolve())
    async with debugging(incident.project, incident.job) as (run, dap):
        assert run.endpoint["label"] == "JOB send_onboarding_email"
        assert run.endpoint["stop_at"] is None  # it passed when recorded
        await dap.attach({job_file: [8]})
        stop = await dap.stopped()
        assert (stop.file, stop.line) == (job_file, 8)
        assert stop.variables["user_id"].startswith("'u_")
        assert "c@d.com" in await dap.evaluate("user.email", stop.frame)
        code, outcome = await run.to_the_end(dap, stop)
    assert code == 0
    assert outcome["outcome"] == "passing"


async def test_a_disconnect_lets_the_request_finish_and_cleans_up(
    incident: Incident, tmp_path: Path
) -> None:
    async with debugging(incident.project, incident.failed_webhook, tmpdir=tmp_path) as (run, dap):
        await dap.attach()
        await dap.stopped()
        assert list(tmp_path.iterdir())  # the sandbox, while stopped
        await dap.request("disconnect")
        code, report, _ = await run.finish()
    assert code == 1 and report["outcomes"][0]["outcome"] == "still_failing"
    assert list(tmp_path.iterdir()) == []


async def test_ctrl_c_or_sigterm_ends_the_session_and_removes_the_sandbox(
    incident: Incident, tmp_path: Path
) -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):
        run = await start_debug(incident.project, incident.failed_webhook, tmpdir=tmp_path)
        try:
            assert list(tmp_path.iterdir())  # the sandbox, while it waits for a client
            run.process.send_signal(sig)
            code, _, err = await run.finish()
        finally:
            if run.process.returncode is None:
                run.process.kill()
                await run.process.wait()
        assert (code, err.strip()) == (1, "flux: debug session interrupted")
        assert list(tmp_path.iterdir()) == []


def test_the_guard_refuses_outside_connections_only_in_its_scope() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    try:
        with guard.no_network(allow=[("127.0.0.1", port)]) as scope:
            refused = r"outside ctx\.http: 192\.0\.2\.1:80"
            with pytest.raises(guard.OutboundConnection, match=refused):
                socket.create_connection(("192.0.2.1", 80), timeout=1)
            with pytest.raises(guard.OutboundConnection, match=r"example\.com"):
                socket.getaddrinfo("example.com", 443)
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        assert scope.attempts == ["192.0.2.1:80", "example.com:443"]
        with contextlib.suppress(OSError):  # outside the scope nothing is refused by Flux
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
    finally:
        listener.close()


# Bad input: one clear line each, exit code 1.


def _one_line(result_err: str) -> str:
    lines = result_err.strip().splitlines()
    assert len(lines) == 1, result_err
    return lines[0]


def test_unknown_id(incident: Incident) -> None:
    result = flux("debug", "req:ffffffff", "-p", str(incident.project))
    assert result.code == 1
    assert "ffffffff" in _one_line(result.err)


def test_remote_execution_is_refused(incident: Incident) -> None:
    result = flux(
        "debug", incident.failed_webhook, "--server", "https://flux.example.com", "-p",
        str(incident.project),
    )  # fmt: skip
    assert result.code == 1
    line = _one_line(result.err)
    assert "https://flux.example.com" in line and "this machine only" in line


def test_a_function_since_deleted(incident: Incident, tmp_path: Path) -> None:
    project = tmp_path / "shop"
    shutil.copytree(incident.project, project)
    (project / "functions" / "divide.py").unlink()
    result = flux("debug", incident.exception, "-p", str(project))
    assert result.code == 1
    assert "function divide no longer exists" in _one_line(result.err)


def test_a_port_in_use(incident: Incident) -> None:
    taken = socket.create_server(("127.0.0.1", 0))
    try:
        port = taken.getsockname()[1]
        result = flux(
            "debug", incident.failed_webhook, "--port", str(port), "-p", str(incident.project)
        )
    finally:
        taken.close()
    assert result.code == 1
    assert f"port {port} on 127.0.0.1 is in use" in _one_line(result.err)
