"""`flux test add <id>` saves a recording as a regression case; `flux test [PATH…]` runs cases.

The case format, capture and runner are `flux_lsp.replay.case`, `.capture` and `.regression`;
this module reads the arguments and renders: one line per case with its differences, the
summary, `--json` (the `TestRun` report) and `--junit-xml PATH` for CI. Exit code 1 when any
case fails or cannot run.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from flux_lsp.cli.app import ProjectOption, app
from flux_lsp.cli.inspect_commands import DefaultCommandGroup
from flux_lsp.cli.stores import StoreOptions, store_options
from flux_lsp.cli.user_errors import UserError, user_errors

if TYPE_CHECKING:
    from typer._click.core import Context

    from flux_lsp.replay.regression import CaseResult, TestRun


class _RunByDefault(DefaultCommandGroup):
    """`flux test` and `flux test PATH…` mean `flux test run …`."""

    default = "run"

    def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, args or [self.default])


test_app = typer.Typer(
    cls=_RunByDefault,
    help="Regression cases from recordings: `flux test add <id>` saves one, `flux test` runs them."
    "\n\nExamples:\n\n  flux test add 4ad4b141\n\n  flux test",
)
app.add_typer(test_app, name="test")


# -- flux test add -------------------------------------------------------------------------


@test_app.command("add")
@store_options
def add(
    request_id: Annotated[str, typer.Argument(help="The execution: req:7c8d9e0f or a prefix.")],
    name: Annotated[
        str | None, typer.Option("--name", help="The case's name (and file name).")
    ] = None,
    expect: Annotated[
        list[str] | None,
        typer.Option(
            "--expect",
            help="What the request must do now: status=200 (or 2xx, 'not 5xx'), error=none, "
            "body=<JSON>. Default: what was recorded, or 'not 5xx and no error' for a failure.",
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing case file.")] = False,
    lookback: Annotated[
        str,
        typer.Option(
            "--lookback",
            help="How far back to look for the earlier requests that share a key with it "
            "(0: none).",
        ),
    ] = "10m",
    *,
    where: StoreOptions,
) -> None:
    """Save a recorded execution as a regression case under tests/flux/.

    It keeps the request, the outbound responses, time, random values, ids and the rows it needs.

    The earlier requests that led to it run first. Secrets stay as redacted placeholders.

    Example:

      flux test add 4ad4b141 --name webhook_before_signup
    """
    from flux_lsp.project import Project
    from flux_lsp.replay.capture import CaptureError, SavedCase, save_case
    from flux_lsp.replay.expect import ExpectationError, parse_expectations

    async def main() -> SavedCase:
        from flux_lsp.recorder.query import parse_duration

        seconds = 0.0 if lookback.strip() == "0" else parse_duration(lookback)
        if seconds is None or seconds < 0:
            raise UserError(f"bad --lookback {lookback!r}: a duration such as 10m, 1h or 0")
        loaded = Project.load(where.project)
        try:
            wanted = parse_expectations(expect) if expect else None
        except ExpectationError as exc:
            raise UserError(str(exc)) from None
        store = await where.open()
        try:
            return await save_case(
                loaded, store, request_id, name=name, expect=wanted, force=force, lookback=seconds
            )
        except CaptureError as exc:
            raise UserError(str(exc)) from None
        finally:
            await store.close()

    with user_errors():
        saved = asyncio.run(main())
    for line in saved.lines:
        typer.echo(line)


# -- flux test [PATH…] ---------------------------------------------------------------------


def write_junit(report: TestRun, path: Path, relative: dict[str, str]) -> None:
    """A JUnit XML report (one testsuite, one testcase per case) for CI."""
    import xml.etree.ElementTree as ET

    s = report.summary
    suite = ET.Element(
        "testsuite",
        {
            "name": "flux",
            "tests": str(s.cases),
            "failures": str(s.failed),
            "errors": str(s.errors),
            "skipped": "0",
            "time": f"{report.duration_ms / 1000:.3f}",
        },
    )
    for result in report.results:
        case = ET.SubElement(
            suite,
            "testcase",
            {
                "classname": f"flux.{result.function or 'case'}",
                "name": result.name,
                "file": relative.get(result.path, result.path),
                "time": f"{result.duration_ms / 1000:.3f}",
            },
        )
        if result.outcome != "passed":
            tag = "failure" if result.outcome == "failed" else "error"
            element = ET.SubElement(case, tag, {"message": result.reason or result.outcome})
            element.text = "\n".join(result.lines(relative.get(result.path, result.path)))
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


@test_app.command("run")
def run(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Case files or folders (default: the project's tests/flux/)."),
    ] = None,
    junit_xml: Annotated[
        Path | None, typer.Option("--junit-xml", help="Also write a JUnit XML report here.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    project: ProjectOption = Path("."),
) -> None:
    """Run regression cases, each on a fresh database from the migrations plus its rows.

    Email is off, outbound HTTP is answered from the case, nothing is recorded.

    Exits with 1 when any case fails or cannot run.

    Examples:

      flux test

      flux test run tests/flux/webhook_before_signup.json --junit-xml report.xml
    """
    from flux_lsp.cli.render_json import print_json
    from flux_lsp.project import Project
    from flux_lsp.replay.case import CASES_DIR
    from flux_lsp.replay.regression import run_cases

    with user_errors():
        loaded = Project.load(project)
        if not loaded.root.is_dir():
            raise UserError(f"no project folder at {loaded.root}")
        targets = list(paths or [loaded.root / CASES_DIR])
        missing = [t for t in targets if not t.exists() and t != loaded.root / CASES_DIR]
        if missing:
            raise UserError(f"no such case file or folder: {missing[0]}")

    def where(path: str) -> str:
        return loaded.relative(path) if Path(path).is_absolute() else path

    def show(result: CaseResult) -> None:
        if not as_json:
            for line in result.lines(where(result.path)):
                typer.echo(line)

    with user_errors():
        report = asyncio.run(run_cases(loaded, targets, progress=show))
    if junit_xml is not None:
        write_junit(report, junit_xml, {r.path: where(r.path) for r in report.results})
    if as_json:
        print_json(report)
    elif report.summary.cases == 0:
        typer.echo(
            f"  No cases in {', '.join(str(t) for t in targets)}: save one with flux test add <id>"
        )
    else:
        typer.echo("")
        typer.echo(f"  {report.summary_line}  {'✔' if report.ok else '✗'}")
    raise typer.Exit(0 if report.ok else 1)
