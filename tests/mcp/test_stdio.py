"""`flux mcp` driven by the MCP SDK's own client over stdio, on the seed incident.

The incident is recorded by driving the real example shop (`tests/cli/incident.py`), with a
second between the failed webhook and the confirmation that creates its row, plus requests
carrying planted secrets. A real `flux mcp` process serves it; the client lists the tools and
checks their schemas, asks why, trace, history, stats and the failure resources, gets tool
errors for bad arguments, and replays the incident after the signup fix. Every result is
scanned for the planted secrets.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from examples.shop_story import fix_signup
from flux_lsp.model import short_id
from tests.cli.incident import Incident, record_incident
from tests.harness import FluxApp, write_function

PASSWORD = "hunter2-planted-mcp-password"
BEARER = "planted-mcp-bearer-token"
CARD = "4242424242424242"
SECRETS = (PASSWORD, BEARER, CARD, "plantedmcpcookie")

LEAKY = """\
async def handler(req, ctx):
    body = await req.json()
    password = body["password"]
    api_key = body["password"] + "-key"
    raise RuntimeError("login failed")
"""

TOOLS = {
    "recent_failures",
    "why",
    "trace",
    "state_history",
    "replay_incident",
    "replay_request",
    "function_stats",
}


@dataclass
class Recorded:
    incident: Incident
    leaky: str
    results: list[str] = field(default_factory=list)
    """Every tool result and resource text seen, for the secrets scan."""


async def _record(tmp: Path) -> Recorded:
    incident = await record_incident(tmp, gap=1.0)
    write_function(incident.project, "leaky", LEAKY)
    async with FluxApp(incident.project) as flux:
        headers = {"authorization": f"Bearer {BEARER}", "cookie": "s=plantedmcpcookie"}
        r = await flux.client.post(
            "/leaky", json={"password": PASSWORD, "card_number": CARD}, headers=headers
        )
        assert r.status_code == 500
        leaky = r.headers["x-flux-request-id"]
        await flux.recorded(leaky)
    return Recorded(incident, leaky)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recorded]:
    seen = asyncio.run(_record(tmp_path_factory.mktemp("mcp")))
    yield seen
    blob = "\n".join(seen.results)
    assert blob, "no results were scanned"
    assert "[redacted]" in blob  # the planted values were there, redacted
    for secret in SECRETS:
        assert secret not in blob, secret


@asynccontextmanager
async def flux_mcp(project: Path) -> AsyncIterator[ClientSession]:
    """A `flux mcp` process on `project`, and an initialized SDK client session to it."""
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "flux_lsp", "mcp", "--project", str(project)],
        env={k: v for k, v in os.environ.items() if k != "STRIPE_WEBHOOK_SECRET"},
        cwd=str(project),
    )
    async with (
        stdio_client(params) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


async def call(
    session: ClientSession, recorded: Recorded, name: str, **arguments: Any
) -> tuple[bool, str, dict[str, Any] | None]:
    """(is_error, text, structured content) of one tool call; the result is kept for the scan."""
    result = await session.call_tool(name, arguments)
    recorded.results.append(result.model_dump_json())
    text = "\n".join(block.text for block in result.content if block.type == "text")
    return bool(result.is_error), text, result.structured_content


async def test_lists_the_tools_with_valid_json_schemas(recorded: Recorded) -> None:
    async with flux_mcp(recorded.incident.project) as session:
        listed = (await session.list_tools()).tools
    assert {tool.name for tool in listed} == TOOLS
    for tool in listed:
        assert tool.description, tool.name
        Draft202012Validator.check_schema(tool.input_schema)
        assert tool.input_schema["type"] == "object"
    schemas = {tool.name: tool.input_schema for tool in listed}
    assert schemas["why"]["required"] == ["id"]
    Draft202012Validator(schemas["replay_incident"]).validate({"window": "09:00..09:20"})
    errors = list(Draft202012Validator(schemas["recent_failures"]).iter_errors({"limit": 0}))
    assert errors, "limit 0 should be refused by the schema"


async def test_why_names_the_row_created_later(recorded: Recorded) -> None:
    incident = recorded.incident
    async with flux_mcp(incident.project) as session:
        error, text, report = await call(session, recorded, "why", id=incident.failed_webhook[:8])
    assert not error, text
    assert report is not None
    assert report["id"] == incident.failed_webhook
    cause = report["root_cause"]
    assert cause["summary"] == "Row not found: subscriptions WHERE customer_id = 'cus_ABC'"
    later = f"created 1.0 s later by confirm_email ({short_id(incident.confirm_email)})"
    assert any(d.endswith(later) for d in cause["details"]), cause["details"]
    assert later in text
    [related] = report["related"]
    assert related["function"] == "confirm_email"
    assert report["location"]["file"].endswith("stripe_webhook.py")


async def test_reading_tools_return_the_cli_reports(recorded: Recorded) -> None:
    incident = recorded.incident
    async with flux_mcp(incident.project) as session:
        error, text, tail = await call(session, recorded, "recent_failures")
        assert not error, text
        assert tail is not None
        ids = [line["id"] for line in tail["executions"]]
        assert incident.failed_webhook in ids and recorded.leaky in ids
        assert incident.good_webhook not in ids
        assert all(line["outcome"] != "ok" for line in tail["executions"])

        error, text, tail = await call(
            session, recorded, "recent_failures", path="/stripe_webhook", status="4xx"
        )
        assert not error, text
        assert tail is not None
        assert [line["id"] for line in tail["executions"]] == [incident.bad_signature]

        error, text, trace = await call(session, recorded, "trace", id=incident.failed_webhook)
        assert not error, text
        assert trace is not None
        assert trace["status"] == "500" and trace["tree"] is not None
        assert [s["label"] for s in trace["steps"]][:2] == ["gateway", "stripe_webhook"]
        assert trace["steps"][1]["error"].startswith("Row not found")

        error, text, history = await call(
            session, recorded, "state_history", table="subscriptions", execution=incident.signup
        )
        assert not error, text
        assert history is not None and history["entries"] == []
        error, text, history = await call(session, recorded, "state_history", table="users")
        assert not error, text
        assert history is not None
        assert any(e["execution_id"] == incident.created_user for e in history["entries"])

        error, text, stats = await call(
            session, recorded, "function_stats", function="stripe_webhook"
        )
        assert not error, text
        assert stats is not None
        assert (stats["runs"], stats["failed"], stats["client_errors"]) == (3, 1, 1)
        assert text.startswith("stripe_webhook: 3 runs · 1 failed · 1 4xx")

        error, text, _ = await call(session, recorded, "trace", id=recorded.leaky)
        assert not error, text
        error, text, _ = await call(session, recorded, "why", id=recorded.leaky)
        assert not error, text


async def test_failure_resources_per_source_location(recorded: Recorded) -> None:
    incident = recorded.incident
    async with flux_mcp(incident.project) as session:
        resources = (await session.list_resources()).resources
        uris = [str(r.uri) for r in resources]
        file_uri = "flux://files/functions/stripe_webhook.py"
        assert file_uri in uris
        failures = [r for r in resources if str(r.uri).startswith("flux://failures/")]
        assert len(failures) >= 3  # the webhook, the division by zero, the leaky login
        read = await session.read_resource(file_uri)
        text = read.contents[0].text  # type: ignore[union-attr]
        recorded.results.append(text)
        for r in failures:
            body = (await session.read_resource(str(r.uri))).contents[0]
            recorded.results.append(body.text)  # type: ignore[union-attr]
    document = json.loads(text)
    webhook = next(f for f in document["failures"] if f["error_type"] == "RowNotFound")
    assert webhook["latest_id"] == incident.failed_webhook
    assert webhook["state"] == "open" and webhook["count"] == 1
    [failing] = [s for s in webhook["source"] if s["failing"]]
    assert failing["line"] == webhook["line"]
    assert "await ctx.db.update(" in failing["text"]
    assert len(webhook["source"]) == 7
    assert f"flux://failures/{webhook['fingerprint']}" in uris


async def test_bad_arguments_are_tool_errors_with_one_line(recorded: Recorded) -> None:
    incident = recorded.incident
    async with flux_mcp(incident.project) as session:
        error, text, _ = await call(session, recorded, "why", id="zzzzzz")
        assert error and text == "no execution matches 'zzzzzz'"
        error, text, _ = await call(session, recorded, "trace", id="req:")
        assert error and "\n" not in text
        error, text, _ = await call(session, recorded, "replay_incident", window="09:99..later")
        assert error and text.startswith(("bad window", "bad time")), text
        assert "\n" not in text
        backwards = "2026-01-02..2026-01-01"
        error, text, _ = await call(session, recorded, "replay_incident", window=backwards)
        assert error and text == f"bad window '{backwards}': the end is not after the start"
        error, text, _ = await call(session, recorded, "replay_incident")
        assert error and text == "pass a window (09:00..09:20) or around (an execution id)"
        error, text, _ = await call(session, recorded, "replay_request", id="ffffffffff")
        assert error and text == "no execution matches 'ffffffffff'"
        error, text, _ = await call(session, recorded, "state_history", table="users;drop")
        assert error and text == "bad table name 'users;drop'"
        error, text, _ = await call(session, recorded, "recent_failures", status="teapot")
        assert error and text.startswith("bad status 'teapot'")
        error, text, _ = await call(session, recorded, "function_stats", function="x", since="?")
        assert error and text.startswith("bad time '?'")
        error, text, _ = await call(session, recorded, "why")  # missing argument
        assert error and "id" in text
        # The server is still there.
        assert len((await session.list_tools()).tools) == len(TOOLS)


async def test_replay_incident_after_the_signup_fix_is_resolved(recorded: Recorded) -> None:
    incident = recorded.incident
    async with flux_mcp(incident.project) as session:

        async def replay_around_the_failure() -> tuple[str, dict[str, Any]]:
            error, text, report = await call(
                session,
                recorded,
                "replay_incident",
                around=incident.failed_webhook,
                function="stripe_webhook",
            )
            assert not error and report is not None, text
            return text, report

        _, before = await replay_around_the_failure()
        assert before["resolved"] is False and before["verdict"] == "✗ not resolved"

        fix_signup(incident.project)
        text, after = await replay_around_the_failure()
        assert after["resolved"] is True and after["verdict"] == "✔ incident resolved"
        assert text.splitlines()[0].endswith("✔ incident resolved")
        [fixed] = [o for o in after["outcomes"] if o["original_id"] == incident.failed_webhook]
        assert (fixed["outcome"], fixed["was_status"], fixed["status"]) == ("fixed", "500", "200")

        error, text, one = await call(session, recorded, "replay_request", id=recorded.leaky)
        assert not error, text
        assert one is not None and one["resolved"] is False
