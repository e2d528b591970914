"""Code actions and `workspace/executeCommand`: why, trace, trace diff, tail, incident replay,
and go-to-definition from a job name."""

from __future__ import annotations

import ast
import asyncio
import json

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import LanguageClient

from tests.lsp.recording import (
    WEBHOOK,
    Recording,
    execute_command,
    open_document,
    record_more,
    start_client,
    stop_client,
    wait_for_diagnostics,
)


def _command_of(action: types.Command | types.CodeAction) -> types.Command:
    """The command a code action runs.

    lsprotocol's client-side converter reads any `CodeAction` that has a `command` as a bare
    `Command` (with the nested command object in its `command` string), so undo that here.
    """
    if isinstance(action, types.CodeAction):
        assert action.command is not None
        return action.command
    if action.command.startswith("{"):
        raw = ast.literal_eval(action.command)
        return types.Command(title=raw["title"], command=raw["command"], arguments=raw["arguments"])
    return action


async def webhook_actions(lsp: LanguageClient, recording: Recording) -> list[types.Command]:
    """The commands of the code actions on the webhook's failing line."""
    uri = recording.uri(WEBHOOK)
    open_document(lsp, uri, recording.text(WEBHOOK))
    (d,) = await wait_for_diagnostics(lsp, uri, lambda d: len(d) == 1)
    actions = await lsp.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=d.range,
            context=types.CodeActionContext(diagnostics=[d]),
        )
    )
    assert actions is not None
    return [_command_of(a) for a in actions]


async def test_code_actions_run_why_trace_and_replay(
    lsp: LanguageClient, recording: Recording
) -> None:
    commands = await webhook_actions(lsp, recording)
    latest = recording.failed_webhooks[-1]
    rid = f"req:{latest[:8]}"
    titles = [c.title for c in commands]
    assert titles == [
        f"Flux: Why {rid}",
        f"Flux: Show trace {rid}",
        f"Flux: Replay {rid} against current code",
        "Flux: Replay incident (time window around it)",
        f"Flux: Save {rid} as regression test",
        f"Flux: Debug this request ({rid})",
    ]
    by_title = {c.title: c for c in commands}

    why = by_title[f"Flux: Why {rid}"]
    assert why is not None and why.command == "flux.why"
    result = await execute_command(lsp, why.command, *(why.arguments or []))
    assert result["kind"] == "why"
    assert result["execution_id"] == latest
    assert result["report"]["root_cause"]["rule"] == "row_not_found"
    assert result["report"]["data_changes"][0]["text"] == "subscriptions  UPDATE  0 rows affected"
    assert "**ROOT CAUSE**" in result["markdown"]

    trace = by_title[f"Flux: Show trace {rid}"]
    assert trace is not None and trace.command == "flux.trace"
    result = await execute_command(lsp, trace.command, *(trace.arguments or []))
    assert result["kind"] == "trace"
    assert result["report"]["status"] == "500"
    assert result["execution"]["id"] == latest
    assert any(s["name"] == "db.update" for s in result["execution"]["spans"])
    assert "db.update(subscriptions)" in result["markdown"]

    incident = by_title["Flux: Replay incident (time window around it)"]
    assert incident is not None and incident.command == "flux.incidentReplay"
    result = await execute_command(lsp, incident.command, *(incident.arguments or []))
    assert result["kind"] == "incidentReplay"
    summary = result["report"]["summary"]
    assert summary["replayed"] >= 5
    assert summary["still_failing"] == 2  # the code is unchanged: both webhooks fail again
    assert "Replaying" in result["markdown"]


async def test_trace_diff_compares_with_the_last_success(
    lsp: LanguageClient, recording: Recording
) -> None:
    latest = recording.failed_webhooks[-1]
    result = await execute_command(lsp, "flux.traceDiff", {"id": latest})
    assert result["kind"] == "traceDiff"
    assert result["report"]["a"]["id"] == recording.good_webhook
    assert result["report"]["b"]["id"] == latest
    assert result["report"]["diverges_at"] is not None
    both = await execute_command(
        lsp, "flux.traceDiff", {"id": latest, "against": recording.good_webhook}
    )
    assert both["report"] == result["report"]


async def test_tail_with_filters(lsp: LanguageClient, recording: Recording) -> None:
    result = await execute_command(lsp, "flux.tail", {"status": "5xx"})
    assert {line["id"] for line in result["report"]["lines"]} == set(recording.failed_webhooks)
    assert result["execution_id"] is None


async def test_failures_are_counted_and_worded_by_the_server(
    lsp: LanguageClient, recording: Recording
) -> None:
    """The status bar's report: the failed webhooks (not the 400), newest first, in the
    folder's `flux.window`."""
    result = await execute_command(lsp, "flux.failures", {})
    report = result["report"]
    assert result["kind"] == "failures"
    assert [line["id"] for line in report["lines"]] == recording.failed_webhooks[::-1]
    assert (report["count"], report["capped"], report["state"]) == (2, False, "failing")
    assert report["label"] == "Flux: 2 failing"
    assert report["tooltip"] == "2 failed executions in the last 24h — click to pick one"
    assert report["title"] == "Flux: 2 failures"


async def test_failures_follow_the_window_setting(recording: Recording) -> None:
    lsp = await start_client(recording.project, configuration={"window": "1s"})
    try:
        await asyncio.sleep(1.1)
        report = (await execute_command(lsp, "flux.failures", {}))["report"]
    finally:
        await stop_client(lsp)
    assert (report["count"], report["state"], report["label"]) == (0, "clear", "Flux")
    assert report["tooltip"] == "No failed executions in the last 1s"


async def test_definition_from_a_job_name_string(lsp: LanguageClient, recording: Recording) -> None:
    uri = recording.uri("functions/signup.py")
    text = recording.text("functions/signup.py")
    open_document(lsp, uri, text)
    line = next(i for i, t in enumerate(text.splitlines()) if "ctx.queue.enqueue(" in t)
    col = text.splitlines()[line].index('"send_onboarding_email"') + 5
    result = await lsp.text_document_definition_async(
        types.DefinitionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=line, character=col),
        )
    )
    assert isinstance(result, list)
    (location,) = result
    assert isinstance(location, types.Location)
    assert location.uri == recording.uri("functions/send_onboarding_email.py")
    target = recording.text("functions/send_onboarding_email.py").splitlines()
    assert target[location.range.start.line].startswith("async def handler")


async def test_save_as_regression_test_from_the_failing_line(
    lsp: LanguageClient, recording: Recording
) -> None:
    uri = recording.uri(WEBHOOK)
    latest = recording.failed_webhooks[-1]
    [save] = [
        c
        for c in await webhook_actions(lsp, recording)
        if c.title == f"Flux: Save req:{latest[:8]} as regression test"
    ]
    assert save.command == "flux.saveRegressionTest"

    result = await execute_command(lsp, save.command, *(save.arguments or []))

    assert result["kind"] == "saveRegressionTest"
    report = result["report"]
    name = f"stripe_webhook_{latest[:8]}"
    assert report["path"] == f"tests/flux/{name}.json"
    assert report["expect"] == {"status": "not 5xx", "error": None}
    assert report["subject"].startswith(f"POST /stripe_webhook  500  req:{latest[:8]}")
    case = json.loads((recording.project / report["path"]).read_text())
    assert case["source"]["execution_id"] == latest
    assert f"Saved {report['path']}" in result["markdown"]
    assert [d.uri for d in lsp.shown_documents] == [report["uri"]]

    again = {"id": latest, "uri": uri, "expect": ["status=200"], "name": "webhook_200"}
    result = await execute_command(lsp, "flux.saveRegressionTest", again)
    assert result["report"]["expect"] == {"status": "200"}

    with pytest.raises(JsonRpcException, match="already exists"):
        await execute_command(lsp, "flux.saveRegressionTest", again)
    with pytest.raises(JsonRpcException, match="bad --expect"):
        await execute_command(lsp, "flux.saveRegressionTest", {**again, "expect": ["x=1"]})


async def test_tail_follows_with_the_servers_cursor(
    lsp: LanguageClient, recording: Recording
) -> None:
    """The first look asks to follow and gets a cursor; later looks get only what is new."""
    first = await execute_command(lsp, "flux.tail", {"function": "stripe_webhook", "follow": True})
    cursor = first["report"]["cursor"]
    shown = {line["id"] for line in first["report"]["lines"]}
    assert shown == {*recording.failed_webhooks, recording.good_webhook}
    again = await execute_command(lsp, "flux.tail", {"cursor": cursor})
    assert again["report"] == {"lines": [], "cursor": cursor}
    newest = await record_more(recording.project, "cus_TAIL")
    later = await execute_command(lsp, "flux.tail", {"cursor": cursor})
    assert [line["id"] for line in later["report"]["lines"]] == [newest]
    with pytest.raises(JsonRpcException, match="unknown cursor"):
        await execute_command(lsp, "flux.tail", {"cursor": "nope"})
