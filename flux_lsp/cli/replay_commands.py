"""`flux incident replay <from>..<to>` and `flux replay <id>`: re-run recordings on current code.

The replay itself is `flux_lsp.replay.engine`; this module only reads the arguments and renders
the `ReplayReport` as the seed shows it (one line per request, then the verdict), or as JSON.
With `--server` the server replays in its own sandbox (`serve/replay_api.py`) and streams the
outcomes back; they print as a local replay's do. The exit code is 0 when nothing still fails
and 1 otherwise.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from flux_lsp.cli.app import ProjectOption, app
from flux_lsp.cli.stores import TokenOpt
from flux_lsp.cli.user_errors import UserError, user_errors

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

    from flux_lsp.project import Project
    from flux_lsp.recorder.query import ExecutionQuery
    from flux_lsp.recorder.store import Store
    from flux_lsp.replay.report import ReplayOutcome, ReplayReport

incident_app = typer.Typer(
    help="Work on an incident: replay a time window of recorded requests."
    "\n\nExample:\n\n  flux incident replay 09:00..09:20",
    no_args_is_help=True,
)
app.add_typer(incident_app, name="incident")

JsonOption = Annotated[bool, typer.Option("--json", help="Print the report as JSON.")]
ServerOpt = Annotated[
    str | None,
    typer.Option(
        "--server",
        metavar="URL",
        help="Replay on this `flux serve` server, in its own sandbox, against the code it runs.",
    ),
]


class _Lines:
    """Prints one line per outcome as the replay goes, under a progress bar on long windows."""

    def __init__(self, console: Console, webhooks_only: bool, with_jobs: bool) -> None:
        self.console = console
        self.webhooks_only = webhooks_only
        self.with_jobs = with_jobs
        self.progress: Progress | None = None
        self.task: TaskID | None = None

    def start_progress(self, total: int) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        self.progress = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
        )
        self.task = self.progress.add_task("replaying", total=total)
        self.progress.start()

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()

    def __call__(self, outcome: ReplayOutcome, done: int) -> None:
        for line in outcome_lines(outcome, self.webhooks_only, self.with_jobs):
            self.console.print(line, highlight=False, markup=False)
        if self.progress is not None and self.task is not None:
            self.progress.update(self.task, completed=done)


def outcome_lines(outcome: ReplayOutcome, webhooks_only: bool, with_jobs: bool) -> list[str]:
    """`✔  req:7c8d9e0f  POST /stripe_webhook  200  51ms  ← was 500` and its sub-lines."""
    mark = "✔" if outcome.passed else "✗"
    parts = [outcome.short_id, outcome.line_label(webhooks_only)]
    if outcome.status is not None:
        parts.append(outcome.status)
    if outcome.duration_ms is not None:
        parts.append(f"{outcome.duration_ms:.0f}ms")
    if outcome.changed:
        parts.append(f"← was {outcome.was_status}")
    lines = [f"  {mark}  " + "  ".join(parts)]
    detail = outcome.detail
    if detail:
        lines.append(f"     └─ {detail}")
    if not with_jobs:
        lines.extend(
            f"     └─ enqueued job {job.function} (listed, not run)" for job in outcome.enqueued
        )
    return lines


def render_footer(console: Console, report: ReplayReport) -> None:
    console.print()
    console.print(f"  {report.verdict_line}", highlight=False, markup=False)
    for warning in report.sandbox.warnings if report.sandbox else []:
        console.print(f"  note: {warning}", highlight=False, markup=False, style="dim")


def _console() -> Console:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


async def open_project(project_dir: Path) -> tuple[Project, Store]:
    from flux_lsp.project import Project
    from flux_lsp.recorder.open_store import open_store

    project = Project.load(project_dir)
    if not project.functions_dir.is_dir():
        raise UserError(f"no functions folder at {project.functions_dir}")
    store = await open_store(project.recorder_location, health=project.recorder_health_path)
    return project, store


def _print_plan(
    console: Console, preview: ReplayReport, count: int, webhooks: int
) -> _Lines | None:
    """The headline of a window's replay; the printer of its outcomes (None: nothing to do)."""
    if count == 0:
        console.print(f"  {preview.empty_message}", highlight=False, markup=False)
        return None
    console.print(f"  {preview.headline(count, webhooks)}", markup=False)
    console.print(f"  Side-effects: {' · '.join(preview.side_effects)}", markup=False)
    console.print()
    return _Lines(console, webhooks == count, preview.with_jobs)


def _print_one(console: Console, report: ReplayReport) -> None:
    console.print(f"  {report.headline()}", markup=False)
    console.print(f"  Side-effects: {' · '.join(report.side_effects)}", markup=False)
    console.print()
    for outcome in report.outcomes:
        for line in outcome_lines(outcome, False, report.with_jobs):
            console.print(line, highlight=False, markup=False)
    render_footer(console, report)


def _window_query(
    window: str | None, function: str | None, filters: list[str]
) -> tuple[float, float, list[str], ExecutionQuery]:
    """The window (none yet for `--around`) and the report filters, checked before anything
    runs."""
    from flux_lsp.recorder.query import parse_filters, parse_window

    since, until = parse_window(window) if window is not None else (0.0, 0.0)
    wanted = [*filters, *([f"function={function}"] if function is not None else [])]
    return since, until, wanted, parse_filters(wanted)


async def _replay_window(
    project_dir: Path,
    window: str | None,
    around: str | None,
    function: str | None,
    filters: list[str],
    as_json: bool,
    with_jobs: bool,
) -> ReplayReport:
    from flux_lsp.replay.engine import plan_window, replay_window, window_around
    from flux_lsp.replay.report import ReplayReport, ReplayWindow

    since, until, _, query = _window_query(window, function, filters)
    project, store = await open_project(project_dir)
    try:
        if around is not None:
            since, until = window_around(await store.get(around))
        if as_json:
            return await replay_window(
                project, store, since, until, query=query, with_jobs=with_jobs
            )
        console = _console()
        plan = await plan_window(store, since, until, query=query, with_jobs=with_jobs)
        preview = ReplayReport(ReplayWindow(since, until), with_jobs=with_jobs)
        lines = _print_plan(console, preview, plan.count, plan.webhooks)
        if lines is None:
            return preview
        if console.is_terminal and plan.count > console.height:
            lines.start_progress(plan.count)
        try:
            report = await replay_window(
                project,
                store,
                since,
                until,
                query=query,
                with_jobs=with_jobs,
                progress=lines,
                keep_passing=False,
            )
        finally:
            lines.stop()
        render_footer(console, report)
        return report
    finally:
        await store.close()


async def _replay_one(project_dir: Path, ident: str, as_json: bool) -> ReplayReport:
    from flux_lsp.replay.engine import replay_one

    project, store = await open_project(project_dir)
    try:
        report = await replay_one(project, store, ident)
    finally:
        await store.close()
    if not as_json:
        _print_one(_console(), report)
    return report


def _remote_window(
    server: str,
    token: str | None,
    window: str,
    function: str | None,
    filters: list[str],
    as_json: bool,
    with_jobs: bool,
) -> ReplayReport:
    """`incident replay --server`: the server replays in its sandbox, the lines print here."""
    from flux_lsp.cli.admin_client import stream_events
    from flux_lsp.replay.report import (
        ReplayReport,
        ReplayWindow,
        outcome_from_json,
        report_from_json,
    )

    since, until, wanted, _ = _window_query(window, function, filters)
    payload = {"since": since, "until": until, "filters": wanted, "with_jobs": with_jobs}
    console = None if as_json else _console()
    lines: _Lines | None = None
    done = 0
    for event in stream_events(server, token, "/replay/window", payload):
        if event.get("event") == "plan" and console is not None:
            preview = ReplayReport(ReplayWindow(since, until), with_jobs=with_jobs)
            lines = _print_plan(console, preview, int(event["count"]), int(event["webhooks"]))
        elif event.get("event") == "outcome" and lines is not None:
            done += 1
            lines(outcome_from_json(event["outcome"]), done)
        elif event.get("event") == "report":
            report = report_from_json(event["report"])
            if console is not None and not report.empty:
                render_footer(console, report)
            return report
    raise UserError(f"{server} ended the replay without its report")


def _remote_one(server: str, token: str | None, ident: str, as_json: bool) -> ReplayReport:
    """`replay --server`: the server replays the execution in its sandbox."""
    from flux_lsp.cli.admin_client import stream_events
    from flux_lsp.replay.report import report_from_json

    for event in stream_events(server, token, "/replay", {"id": ident}):
        if event.get("event") == "report":
            report = report_from_json(event["report"])
            if not as_json:
                _print_one(_console(), report)
            return report
    raise UserError(f"{server} ended the replay without its report")


def _finish(report: ReplayReport, as_json: bool) -> None:
    if as_json:
        from flux_lsp.encode import to_json

        typer.echo(json.dumps(to_json(report), indent=2, ensure_ascii=False))
    raise typer.Exit(0 if report.ok else 1)


# A window may start with `-` (`-2h..now`): unknown options pass through as the argument, and
# `-h` is not a help option here, since `-2h..now` would otherwise ask for help.
WINDOW_COMMAND = {"ignore_unknown_options": True, "help_option_names": ["--help"]}


@incident_app.command("replay", context_settings=WINDOW_COMMAND)
def incident_replay(
    window: Annotated[
        str | None,
        typer.Argument(help="FROM..TO: 09:00..09:20, -30m..now, or ISO date-times."),
    ] = None,
    around: Annotated[
        str | None,
        typer.Option(
            "--around",
            help="Instead of a window: replay the incident around this execution "
            "(10 minutes before it to 5 after).",
        ),
    ] = None,
    function: Annotated[
        str | None, typer.Option("--function", help="Report only this function's requests.")
    ] = None,
    filters: Annotated[
        list[str] | None,
        typer.Option("--filter", help="Report only matching requests: status=5xx, path=/x."),
    ] = None,
    with_jobs: Annotated[
        bool, typer.Option("--with-jobs", help="Re-run the window's recorded job runs too.")
    ] = False,
    as_json: JsonOption = False,
    project: ProjectOption = Path("."),
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Re-run every request recorded in a time window against the code you have now.

    Runs on a sandbox copy of the data as it was when the window started.

    Email is off, Stripe signature checks are skipped, outbound HTTP is answered from the recording.

    --function and --filter narrow what is reported: every request in the window still runs.

    Exits with 1 while anything still fails.

    Examples:

      flux incident replay 09:00..09:20

      flux incident replay 23:50..00:10 --function stripe_webhook --server https://flux.example.com
    """
    with user_errors():
        if (window is None) == (around is None):
            raise UserError("pass a window (09:00..09:20) or --around <id>")
        if server is not None:
            if window is None:
                raise UserError("--around replays a local recorder; with --server pass a window")
            report = _remote_window(
                server, token, window, function, filters or [], as_json, with_jobs
            )
        else:
            report = asyncio.run(
                _replay_window(project, window, around, function, filters or [], as_json, with_jobs)
            )
    _finish(report, as_json)


@app.command("replay")
def replay(
    request_id: Annotated[str, typer.Argument(help="The execution: req:7c8d9e0f or a prefix.")],
    as_json: JsonOption = False,
    project: ProjectOption = Path("."),
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Re-run one recorded execution against the code you have now, on the data as it was.

    Examples:

      flux replay 4ad4b141

      flux replay req:4ad4b141 --server https://flux.example.com
    """
    with user_errors():
        if server is not None:
            report = _remote_one(server, token, request_id, as_json)
        else:
            report = asyncio.run(_replay_one(project, request_id, as_json))
    _finish(report, as_json)
