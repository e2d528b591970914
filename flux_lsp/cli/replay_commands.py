"""`flux incident replay <from>..<to>` and `flux replay <id>`: re-run recordings on current code.

The replay itself is `flux_lsp.replay.engine`; this module only reads the arguments and renders
the `ReplayReport` as the seed shows it (one line per request, then the verdict), or as JSON.
The exit code is 0 when nothing still fails and 1 otherwise.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from flux_lsp.cli.app import ProjectOption, app
from flux_lsp.cli.user_errors import UserError, user_errors

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

    from flux_lsp.project import Project
    from flux_lsp.recorder.store import Store
    from flux_lsp.replay.report import ReplayOutcome, ReplayReport

incident_app = typer.Typer(
    help="Work on an incident: replay a time window of recorded requests."
    "\n\nExample:\n\n  flux incident replay 09:00..09:20",
    no_args_is_help=True,
)
app.add_typer(incident_app, name="incident")

JsonOption = Annotated[bool, typer.Option("--json", help="Print the report as JSON.")]


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
    console.print(f"  {report.summary_line}  {report.verdict}", highlight=False, markup=False)
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


async def _replay_window(
    project_dir: Path,
    window: str,
    function: str | None,
    filters: list[str],
    as_json: bool,
    with_jobs: bool,
) -> ReplayReport:
    from flux_lsp.recorder.query import parse_filters, parse_window
    from flux_lsp.replay.engine import plan_window, replay_window
    from flux_lsp.replay.report import ReplayReport, ReplayWindow

    since, until = parse_window(window)
    query = parse_filters(filters)
    if function is not None:
        query = parse_filters([f"function={function}"], query)
    project, store = await open_project(project_dir)
    try:
        if as_json:
            return await replay_window(
                project, store, since, until, query=query, with_jobs=with_jobs
            )
        console = _console()
        plan = await plan_window(store, since, until, query=query, with_jobs=with_jobs)
        preview = ReplayReport(ReplayWindow(since, until), with_jobs=with_jobs)
        if plan.count == 0:
            console.print(f"  {preview.empty_message}", highlight=False, markup=False)
            return preview
        console.print(f"  {preview.headline(plan.count, plan.webhooks)}", markup=False)
        console.print(f"  Side-effects: {' · '.join(preview.side_effects)}", markup=False)
        console.print()
        lines = _Lines(console, plan.webhooks == plan.count, with_jobs)
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
        console = _console()
        console.print(f"  {report.headline()}", markup=False)
        console.print(f"  Side-effects: {' · '.join(report.side_effects)}", markup=False)
        console.print()
        for outcome in report.outcomes:
            for line in outcome_lines(outcome, False, report.with_jobs):
                console.print(line, highlight=False, markup=False)
        render_footer(console, report)
    return report


def _finish(report: ReplayReport, as_json: bool) -> None:
    if as_json:
        from flux_lsp.encode import to_json

        typer.echo(json.dumps(to_json(report), indent=2, ensure_ascii=False))
    raise typer.Exit(0 if report.ok else 1)


@incident_app.command("replay", context_settings={"ignore_unknown_options": True})
def incident_replay(
    window: Annotated[
        str, typer.Argument(help="FROM..TO: 09:00..09:20, -30m..now, or ISO date-times.")
    ],
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
        report = asyncio.run(
            _replay_window(project, window, function, filters or [], as_json, with_jobs)
        )
    _finish(report, as_json)


@app.command("replay")
def replay(
    request_id: Annotated[str, typer.Argument(help="The execution: req:7c8d9e0f or a prefix.")],
    as_json: JsonOption = False,
    project: ProjectOption = Path("."),
) -> None:
    """Re-run one recorded execution against the code you have now, on the data as it was.

    Examples:

      flux replay 4ad4b141

      flux replay req:4ad4b141 --server https://flux.example.com
    """
    with user_errors():
        report = asyncio.run(_replay_one(project, request_id, as_json))
    _finish(report, as_json)
