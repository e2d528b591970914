"""`flux prune`: apply the project's retention policy to its recorder now, and say what went.

The writer process prunes by itself every few minutes; this command does it at once (after
changing the policy, or to see with `--dry-run` what the policy would remove). It works on the
project's recorder, a file or PostgreSQL, or on the one `--recorder` names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from flux_lsp.cli.app import app
from flux_lsp.cli.stores import JsonOpt, ProjectOpt, RecorderOpt


@app.command()
def prune(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would be removed; remove nothing.")
    ] = False,
    json: JsonOpt = False,
    project: ProjectOpt = Path("."),
    recorder: RecorderOpt = None,
) -> None:
    """Prune the recorder to the retention policy ([recorder] keep, keep_failures, max_size).

    Example: flux prune --dry-run
    """
    from dataclasses import asdict

    from flux_lsp.analysis.values import size
    from flux_lsp.cli import render_json
    from flux_lsp.cli.user_errors import user_errors
    from flux_lsp.project import Project, is_database_url
    from flux_lsp.recorder.retention import RetentionPolicy
    from flux_lsp.recorder.store import RecorderMissing, pruned_note
    from flux_lsp.recorder.writer_process import prune as apply_policy

    with user_errors():
        loaded = Project.load(project)
        policy = RetentionPolicy.from_settings(loaded.settings)
        location = recorder or loaded.recorder_location
        if not is_database_url(location) and not Path(location).is_file():
            raise RecorderMissing(f"no recorder at {location}")
        try:
            report = apply_policy(location, policy, dry_run=dry_run)
        except Exception as exc:  # unreachable database, locked file: one line
            from flux_lsp.recorder.postgres_schema import redact

            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise RecorderMissing(f"cannot prune {redact(location)}: {reason}") from None
    if json:
        render_json.print_json({**asdict(report), "executions": report.executions})
        return
    verb = "would remove" if dry_run else "removed"
    typer.echo(f"  {report.location}  ({report.policy})")
    typer.echo(
        f"  {verb} {report.executions:,} executions ({report.successes:,} successes, "
        f"{report.failures:,} failures), {report.mutations:,} mutations, "
        f"{report.call_sites:,} call sites"
        + (f", {report.partitions} partitions" if report.partitions else "")
    )
    if not dry_run:
        typer.echo(f"  size {size(report.size_before)} → {size(report.size_after)}")
    note = pruned_note(report.pruned_before)
    if note:
        typer.echo(f"  {note}" if not dry_run else f"  {note.replace('were', 'would be')}")
