"""The debugging commands: `tail`, `why`, `trace` (+ `debug`, `diff`), `state history`, `status`.

Each command opens the store (`cli/stores.py`), asks `flux_lsp.analysis` for a report and
renders it (`cli/render.py`), or prints the report's JSON (`encode.to_json`) with `--json`.
Imports beyond typer happen inside the commands, so they start quickly; `flux tail`'s work is
`cli/tail_command.py`, which the entry point also runs without typer.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from typer.core import TyperGroup

from flux_lsp.cli.app import app
from flux_lsp.cli.stores import JsonOpt, StoreOptions, store_options

if TYPE_CHECKING:
    from typer._click.core import Context

    from flux_lsp.analysis.status import StatusReport
    from flux_lsp.recorder.store import Store


class DefaultCommandGroup(TyperGroup):
    """A group whose first argument, when it is not a subcommand, goes to `default`."""

    default = "show"

    def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = [self.default, *args]
        return super().parse_args(ctx, args)


trace_app = typer.Typer(
    cls=DefaultCommandGroup,
    help="An execution's span tree; `trace debug` steps through it; `trace diff` compares two."
    "\n\nExamples:\n\n  flux trace 4ad4b141\n\n  flux trace debug 4ad4b141",
    no_args_is_help=True,
)
state_app = typer.Typer(
    help="The recorded data changes.\n\nExample:\n\n  flux state history subscriptions --id s_2",
    no_args_is_help=True,
)
app.add_typer(trace_app, name="trace")
app.add_typer(state_app, name="state")

IdArg = Annotated[str, typer.Argument(help="Execution id: 7c8d9e0f, req:7c8d9e0f or a prefix.")]


def _print_report(report: object, json: bool, renderer: str) -> None:
    """With `--json` the report's JSON, else `render.<renderer>` lays it out with rich (which
    only then is imported, so `--json` starts quickly)."""
    if json:
        from flux_lsp.cli import render_json

        render_json.print_json(report)
    else:
        from flux_lsp.cli import render

        getattr(render, renderer)(render.console(), report)


# -- tail ----------------------------------------------------------------------------------


@app.command()
@store_options
def tail(
    filter: Annotated[
        list[str] | None,
        typer.Option(
            "--filter",
            help="KEY=VALUE with key path, function, status (500, 5xx, failed), kind or trace "
            "(kind=replay shows replays, hidden otherwise); repeat to narrow.",
        ),
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Only executions since 15m, 1h30m, 09:00 or a date-time.")
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", "-n", help="How many of the newest executions to show.")
    ] = 20,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep streaming new executions until Ctrl-C.")
    ] = False,
    json: JsonOpt = False,
    *,
    where: StoreOptions,
) -> None:
    """The latest executions, each with its error or its data changes.

    Examples:

      flux tail --filter path=/stripe_webhook --filter status=500

      flux tail -f -n 1 --server https://flux.example.com
    """
    from flux_lsp.cli.tail_command import run_tail

    run_tail(filter, since, limit, follow, json, where)


# -- why -----------------------------------------------------------------------------------


@app.command()
@store_options
def why(
    execution_id: IdArg,
    json: JsonOpt = False,
    *,
    where: StoreOptions,
) -> None:
    """Why an execution failed: root cause, location, input, data changes, suggestion.

    Examples:

      flux why 4ad4b141

      flux why req:4ad4b141 --json --server https://flux.example.com
    """

    async def work(store: Store) -> None:
        from flux_lsp.analysis.why import explain

        _print_report(await explain(store, await store.get(execution_id)), json, "render_why")

    where.run(work, blocking=True)


# -- trace ---------------------------------------------------------------------------------


def _trace(execution_id: str, json: bool, debug: bool, where: StoreOptions) -> None:
    async def work(store: Store) -> None:
        from flux_lsp.analysis.trace_report import trace_report

        report = trace_report(await store.get(execution_id))
        _print_report(report, json, "render_debug" if debug else "render_trace")

    where.run(work, blocking=True)


@trace_app.command("show")
@store_options
def trace_show(
    execution_id: IdArg,
    json: JsonOpt = False,
    *,
    where: StoreOptions,
) -> None:
    """The span tree of an execution, with durations and results (`flux trace <id>`).

    Example:

      flux trace 4ad4b141
    """
    _trace(execution_id, json, False, where)


@trace_app.command("debug")
@store_options
def trace_debug(
    execution_id: IdArg,
    json: JsonOpt = False,
    *,
    where: StoreOptions,
) -> None:
    """Step through an execution: each stage's input, output, error and time.

    Example:

      flux trace debug 4ad4b141
    """
    _trace(execution_id, json, True, where)


@trace_app.command("diff")
@store_options
def trace_diff(
    a: Annotated[str, typer.Argument(help="The execution to compare from (e.g. a good run).")],
    b: Annotated[str, typer.Argument(help="The execution to compare with it.")],
    json: JsonOpt = False,
    *,
    where: StoreOptions,
) -> None:
    """Two executions' span trees aligned: where they diverge, and what changed.

    Example:

      flux trace diff 1a2b3c4d 4ad4b141
    """

    async def work(store: Store) -> None:
        from flux_lsp.analysis.diff import trace_diff as diff_of

        _print_report(diff_of(await store.get(a), await store.get(b)), json, "render_diff")

    where.run(work, blocking=True)


# -- state history -------------------------------------------------------------------------


@state_app.command("history")
@store_options
def state_history(
    table: Annotated[str, typer.Argument(help="The table, e.g. users.")],
    id: Annotated[str | None, typer.Option("--id", help="The row's primary key.")] = None,
    filter: Annotated[
        str | None,
        typer.Option("--filter", help="job=<id> or req=<id>: what one execution wrote."),
    ] = None,
    json: JsonOpt = False,
    *,
    where: StoreOptions,
) -> None:
    """The mutation log of a row (`--id`) or of an execution (`--filter job=<id>`).

    Examples:

      flux state history subscriptions --id s_2

      flux state history users --filter req=4ad4b141
    """
    from flux_lsp.cli.user_errors import user_errors

    with user_errors():
        from flux_lsp.analysis.history import check_table, parse_history_filter

        check_table(table)
        ident = parse_history_filter(filter) if filter is not None else None

    async def work(store: Store) -> None:
        from flux_lsp.analysis.history import load_state_history

        report = await load_state_history(store, table, pk=id, execution_ident=ident)
        _print_report(report, json, "render_history")

    where.run(work, blocking=True)


# -- status --------------------------------------------------------------------------------


def _app_database(where: StoreOptions) -> str | None:
    """The local project's app database, described without a password (None for --server)."""
    if where.server:
        return None
    from flux_lsp.project import Project
    from flux_lsp.runtime.database import describe_database

    return describe_database(Project.load(where.project))


@app.command()
@store_options
def status(
    json: JsonOpt = False,
    *,
    where: StoreOptions,
) -> None:
    """The recorder: where it is, its size, how many executions, and any recording problem.

    Examples:

      flux status

      flux status --json --server https://flux.example.com
    """

    from flux_lsp.analysis.status import status_report

    async def work(store: Store) -> None:
        report = status_report(await store.stats(), database=_app_database(where))
        _print_report(report, json, "render_status")

    if where.server is None and where.recorder is None:
        unreachable = _unreachable_database(where.project)
        if unreachable is not None:  # what the local writer saw while it could not write
            _print_report(unreachable, json, "render_status")
            raise typer.Exit(1)
    where.run(work, blocking=True)


def _unreachable_database(project_dir: Path) -> StatusReport | None:
    """The status of a project whose recorder cannot be read while its writer reports a
    problem: a PostgreSQL recorder that does not answer, or a file the writer could not
    finish (a full disk): where, why, and the writer's and the app's counts; None when the
    recorder answers (or nothing went wrong), for the command to read it as usual."""
    from flux_lsp.analysis.status import status_report
    from flux_lsp.cli.reading import run
    from flux_lsp.project import ConfigError, Project, is_database_url
    from flux_lsp.recorder.open_store import open_store
    from flux_lsp.recorder.postgres_schema import redact
    from flux_lsp.recorder.retention import read_health
    from flux_lsp.recorder.store import RecorderError, RecorderStats, RecorderUnreachable

    try:
        project = Project.load(project_dir)
    except ConfigError:
        return None  # the command reports it
    location = project.recorder_location
    database = is_database_url(location)
    stats = RecorderStats(redact(location) if database else location, 0, 0, None, None, 0)
    read_health(stats, project.recorder_health_path)
    if not database and stats.problem is None:
        return None

    async def probe() -> str | None:
        try:
            store = await open_store(location)
        except RecorderUnreachable as exc:
            return str(exc)
        except RecorderError as exc:  # for a database, only an unreachable one is news here
            return None if database else str(exc)
        await store.close()
        return None

    reason = run(probe())
    if reason is None:
        return None
    if database:
        stats.problem = reason + (f"; the writer said: {stats.problem}" if stats.problem else "")
    else:
        stats.problem = f"{stats.problem}; the recorder cannot be read: {reason}"
    return status_report(stats)
