"""`flux tail`'s work, apart from its typer declaration (`inspect_commands.tail`), and the
entry point's fast way to it.

`fast_tail` reads a `flux tail` command line made of the plain options only (`--limit 20`,
`-n 5`, `--filter K=V`, `--since`, `--follow/-f`, `--json`, `--project/-p`, `--recorder`,
`--server`, `--token`), exactly as typer would, and runs the command without importing typer
(typer and click were a quarter of the command's start). Any other command line (`--help`, a
mistake, an option spelled `--limit=5` or repeated) is left to typer, which says what it says.
"""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flux_lsp.cli.reading import StoreOptions, discover_project

if TYPE_CHECKING:
    from flux_lsp.recorder.follow import Follower
    from flux_lsp.recorder.store import Store

FOLLOW_POLL_SECONDS = 0.2
"""How often `--follow` looks whether the recorder changed (see `recorder.follow`)."""

FLAGS = {"--follow": "follow", "-f": "follow", "--json": "json"}
VALUES = {
    "--filter": "filter",
    "--since": "since",
    "--limit": "limit",
    "-n": "limit",
    "--project": "project",
    "-p": "project",
    "--recorder": "recorder",
    "--server": "server",
    "--token": "token",
}
"""`flux tail`'s options as `inspect_commands.tail` declares them (tests/cli compares them)."""


def run_tail(
    filter: list[str] | None,
    since: str | None,
    limit: int,
    follow: bool,
    json: bool,
    where: StoreOptions,
) -> None:
    """The newest `limit` executions matching `filter` and `since`, then (`follow`) each one
    recorded from here on, as lines or (`json`) JSON."""
    from flux_lsp.cli.user_errors import fail, user_errors
    from flux_lsp.recorder.query import live_only, parse_filters, parse_time

    if limit < 1:
        fail(f"bad limit {limit}: use a number of executions, 1 or more")
    with user_errors():
        query = live_only(parse_filters(filter or []))
        if since is not None:
            query = query.with_(since=parse_time(since))
        query = query.with_(limit=limit, newest_first=True)

    async def work(store: Store) -> None:
        from flux_lsp.analysis.tail import tail_lines
        from flux_lsp.cli import render_json

        follower = None
        if follow:
            from flux_lsp.recorder.follow import Follower

            # What the store holds now is not news; what is recorded from here on is.
            follower = Follower(store, query)
            await follower.mark_recorded()
        lines = tail_lines(await store.executions(query))
        out: Any = None
        if not json:
            from flux_lsp.cli import render

            out = render.console()
        if json and not follow:
            render_json.print_json({"executions": lines})
        elif json:
            for line in lines:
                render_json.print_json_line(line)
        elif lines:
            assert out is not None
            render.render_tail(out, lines)
        elif not follow and out is not None:
            out.print("  No executions match." if filter or since else "  No executions yet.")
        if follower is not None:
            follower.mark_shown((line.execution.id, line.execution.started_at) for line in lines)
            await _follow(follower, json, out)

    try:
        where.run(work, blocking=not follow)  # following waits for the writer's signal
    except KeyboardInterrupt:
        raise SystemExit(0) from None


async def _follow(follower: Follower, json: bool, out: Any) -> None:
    """Print executions as they are recorded: at once when the writer's commit signal is heard
    (a recorder file's signal file, a PostgreSQL recorder's NOTIFY), else polling the store's
    change token."""
    from flux_lsp.analysis.tail import tail_lines
    from flux_lsp.cli import render_json

    async for _heard in follower.store.changes(FOLLOW_POLL_SECONDS):
        for line in tail_lines(await follower.poll()):
            if json:
                render_json.print_json_line(line)
            else:
                from flux_lsp.cli import render

                render.render_tail(out, [line])


def parse_tail(args: list[str]) -> dict[str, Any] | None:
    """The arguments after `tail` as typer reads them, or None for a command line that only
    typer should read (help, an unknown or repeated option, a value typer might refuse)."""
    found: dict[str, Any] = {}
    filters: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in FLAGS:
            if FLAGS[arg] in found:
                return None
            found[FLAGS[arg]] = True
            i += 1
            continue
        name = VALUES.get(arg)
        if name is None or i + 1 == len(args) or args[i + 1].startswith("-"):
            return None
        value = args[i + 1]
        i += 2
        if name == "filter":
            filters.append(value)
        elif name in found:
            return None
        elif name == "limit":
            if not (value.isascii() and value.isdigit()):
                return None
            found[name] = int(value)
        else:
            found[name] = value
    token = found["token"] if "token" in found else os.environ.get("FLUX_TOKEN") or None
    return {
        "filter": filters or None,
        "since": found.get("since"),
        "limit": found.get("limit", 20),
        "follow": found.get("follow", False),
        "json": found.get("json", False),
        "where": StoreOptions(
            discover_project(Path(found.get("project", "."))),
            found.get("recorder"),
            found.get("server"),
            token,
        ),
    }


def fast_tail(args: list[str]) -> bool:
    """Run `flux tail` from the arguments after `tail` without typer, ending as typer ends a
    command (Ctrl-C: exit 130; a closed pipe: exit 1, quietly); False, having done nothing,
    when `parse_tail` leaves the command line to typer."""
    parsed = parse_tail(args)
    if parsed is None:
        return False
    try:
        run_tail(**parsed)
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    except OSError as exc:
        if exc.errno != errno.EPIPE:
            raise
        # As click does: nothing more reaches the closed pipe, not even at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        raise SystemExit(1) from None
    return True
