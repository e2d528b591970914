"""The agent tools: thin handlers over the same analysis and replay functions the CLI uses.

Each tool answers with the report the matching CLI command prints with `--json` as the
result's structured content, plus one or two lines of text an agent can read at a glance.
A mistake the caller can fix (an unknown or ambiguous id, a bad window, filter or table, an
unreadable recorder or flux.toml) is an MCP tool error (`is_error`) whose text is the one
line the CLI would print. Everything read comes from the recorder, which redacted secrets
before it stored anything; replays run in the replay sandbox (no live data, no email, no
outbound calls) on the project's working tree.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field

from flux_lsp.encode import to_json
from flux_lsp.mcp.workspace import Workspace
from flux_lsp.project import ConfigError
from flux_lsp.recorder.query import QueryError
from flux_lsp.recorder.store import RecorderError

USER_ERRORS = (RecorderError, QueryError, ConfigError)
"""What a caller can cause and fix: answered as a tool error with the one-line message."""

Id = Annotated[
    str,
    Field(description="An execution id: 7c8d9e0f, req:7c8d9e0f, or any unique prefix."),
]
Since = Annotated[
    str | None,
    Field(description="Only executions since this moment: 15m, 2h, 09:00, or an ISO date-time."),
]


def _result(document: Any, text: str) -> CallToolResult:
    """A report as structured content (plain JSON, as `--json` prints it) plus a short text."""
    plain = to_json(document)
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=plain)


def _error(message: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=message)], is_error=True)


async def _answer(work: Callable[[], Awaitable[CallToolResult]]) -> CallToolResult:
    try:
        return await work()
    except USER_ERRORS as exc:
        return _error(str(exc))


class FluxTools:
    """The tools of one workspace, registered on an `MCPServer` by `register`."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace

    async def recent_failures(
        self,
        function: Annotated[str | None, Field(description="Only this function.")] = None,
        path: Annotated[
            str | None, Field(description="Only this path, e.g. /stripe_webhook.")
        ] = None,
        status: Annotated[
            str,
            Field(
                description="A status filter as `flux tail --filter status=` reads it: failed "
                "(5xx and failed jobs, the default), 5xx, 4xx, 500, done, …"
            ),
        ] = "failed",
        kind: Annotated[str | None, Field(description="http, job or replay.")] = None,
        since: Since = None,
        limit: Annotated[int, Field(ge=1, le=1000, description="How many, newest.")] = 20,
    ) -> CallToolResult:
        """The latest failing executions (as `flux tail --filter status=failed --json`), each
        with its error, oldest first."""
        from flux_lsp.analysis.tail import tail_lines
        from flux_lsp.recorder.query import parse_filters, parse_time

        async def work() -> CallToolResult:
            given = {"function": function, "path": path, "status": status, "kind": kind}
            query = parse_filters([f"{k}={v}" for k, v in given.items() if v is not None])
            if since is not None:
                query = query.with_(since=parse_time(since))
            query = query.with_(limit=limit, newest_first=True)
            store = await self.workspace.store()
            lines = tail_lines(await store.executions(query))
            text = "\n".join(
                f"{e.short_id}  {e.target}  {e.status}  "
                + (e.error.message if e.error else e.outcome)
                for e in (line.execution for line in lines)
            )
            return _result({"executions": lines}, text or "No executions match.")

        return await _answer(work)

    async def why(self, id: Id) -> CallToolResult:
        """Why an execution failed (as `flux why --json`): the root cause, including a row
        another request created later, the failing line, the input, the data changes and a
        suggestion."""
        from flux_lsp.analysis.why import explain

        async def work() -> CallToolResult:
            store = await self.workspace.store()
            report = await explain(store, await store.get(id))
            lines = [report.root_cause.summary, *report.root_cause.details]
            if report.location is not None:
                lines.append(f"at {report.location.label}")
            lines.extend(f"→ {s}" for s in report.suggestions)
            return _result(report, "\n".join(lines))

        return await _answer(work)

    async def trace(self, id: Id) -> CallToolResult:
        """An execution's span tree and its debug steps, each stage's input, output, error and
        time (as `flux trace --json`)."""
        from flux_lsp.analysis.trace_report import trace_report

        async def work() -> CallToolResult:
            store = await self.workspace.store()
            report = trace_report(await store.get(id))
            e = report.execution
            head = f"{e.short_id}  {e.target}  {e.status}  {e.outcome}"
            steps = [f"{s.index}/{len(report.steps)} {s.label}" for s in report.steps]
            return _result(report, "\n".join([head, *steps]))

        return await _answer(work)

    async def state_history(
        self,
        table: Annotated[str, Field(description="The table, e.g. subscriptions.")],
        id: Annotated[str | None, Field(description="The row's primary key.")] = None,
        execution: Annotated[
            str | None, Field(description="Only what this execution (request or job) wrote.")
        ] = None,
    ) -> CallToolResult:
        """The recorded mutation log of a table's row, or of one execution's writes (as
        `flux state history --json`)."""
        from flux_lsp.analysis.history import check_table, load_state_history

        async def work() -> CallToolResult:
            check_table(table)
            store = await self.workspace.store()
            report = await load_state_history(store, table, pk=id, execution_ident=execution)
            text = report.empty or f"{report.heading}: {len(report.entries)} mutations"
            return _result(report, text)

        return await _answer(work)

    async def replay_incident(
        self,
        window: Annotated[
            str | None,
            Field(description="FROM..TO: 09:00..09:20, -30m..now, or two ISO date-times."),
        ] = None,
        around: Annotated[
            str | None,
            Field(
                description="Instead of a window: the execution to replay the incident "
                "around (10 minutes before it to 5 after)."
            ),
        ] = None,
        function: Annotated[str | None, Field(description="Report only this function.")] = None,
        status: Annotated[
            str | None, Field(description="Report only requests with this status, e.g. 5xx.")
        ] = None,
        with_jobs: Annotated[
            bool, Field(description="Re-run the window's recorded job runs too.")
        ] = False,
    ) -> CallToolResult:
        """Re-run every request recorded in a window against the working tree's code, in
        recorded order, in the replay sandbox (a copy of the data as it was, email off,
        outbound HTTP answered from the recording), and say which are fixed (as
        `flux incident replay --json`)."""
        from flux_lsp.recorder.query import parse_filters, parse_window
        from flux_lsp.replay.engine import replay_window, window_around

        async def work() -> CallToolResult:
            if (window is None) == (around is None):
                raise QueryError("pass a window (09:00..09:20) or around (an execution id)")
            given = {"function": function, "status": status}
            query = parse_filters([f"{k}={v}" for k, v in given.items() if v is not None])
            store = await self.workspace.store()
            if window is not None:
                since, until = parse_window(window)
            else:
                assert around is not None
                since, until = window_around(await store.get(around))
            report = await replay_window(
                self.workspace.replay_project(),
                store,
                since,
                until,
                query=query,
                with_jobs=with_jobs,
            )
            return _result(report, _replay_text(report))

        return await _answer(work)

    async def replay_request(self, id: Id) -> CallToolResult:
        """Re-run one recorded execution against the working tree's code on the data as it
        was then, in the replay sandbox (as `flux replay --json`)."""
        from flux_lsp.replay.engine import replay_one

        async def work() -> CallToolResult:
            store = await self.workspace.store()
            report = await replay_one(self.workspace.replay_project(), store, id)
            return _result(report, _replay_text(report))

        return await _answer(work)

    async def function_stats(
        self,
        function: Annotated[str, Field(description="The function, e.g. stripe_webhook.")],
        since: Since = "24h",
    ) -> CallToolResult:
        """How a function has been doing: runs, failures, 4xx answers, p50/p95 latency and
        its latest runs."""
        from flux_lsp.analysis.stats import load_function_stats
        from flux_lsp.recorder.query import parse_time

        async def work() -> CallToolResult:
            store = await self.workspace.store()
            moment = parse_time(since) if since is not None else None
            report = await load_function_stats(store, function, moment)
            s = report.stats
            p95 = f" · p95 {s.p95_ms:.0f} ms" if s.p95_ms is not None else ""
            text = f"{function}: {s.runs} runs · {s.failed} failed · {s.client_errors} 4xx{p95}"
            return _result(report, text)

        return await _answer(work)

    def register(self, server: MCPServer[Any]) -> None:
        read_only = ToolAnnotations(read_only_hint=True, open_world_hint=False)
        replays = ToolAnnotations(
            read_only_hint=False, destructive_hint=False, open_world_hint=False
        )
        tools: list[tuple[Callable[..., Awaitable[CallToolResult]], ToolAnnotations]] = [
            (self.recent_failures, read_only),
            (self.why, read_only),
            (self.trace, read_only),
            (self.state_history, read_only),
            (self.function_stats, read_only),
            (self.replay_incident, replays),
            (self.replay_request, replays),
        ]
        for tool, hints in tools:
            server.add_tool(tool, annotations=hints)


def _replay_text(report: Any) -> str:
    """`6 replayed · 6 passing · 0 still failing  ✔ incident resolved` and what still fails."""
    lines = [f"{report.summary_line}  {report.verdict}"]
    for outcome in report.outcomes:
        if not outcome.passed:
            lines.append(f"✗ {outcome.short_id} {outcome.label}: {outcome.detail or ''}")
    return "\n".join(lines)
