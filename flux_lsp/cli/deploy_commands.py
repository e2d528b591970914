"""`flux deploy`: ship the project to a `flux serve` server, or roll it back.

Builds the bundle (`bundle`), uploads it with httpx behind a rich progress bar, and
prints the deployment id, the code version executions will record, and which files were
added, changed or removed (`--json`: the server's answer as it is). `--dry-run` has the server
check the bundle as a deploy would and report the changes and pending migrations, deploying
nothing. A refused bundle, a wrong token or an unreachable server end in one line on stderr
and exit code 1.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from flux_lsp.cli.admin_client import answer
from flux_lsp.cli.app import ProjectOption, app
from flux_lsp.cli.user_errors import UserError, fail, user_errors

if TYPE_CHECKING:
    import httpx
    from rich.console import Console

DEFAULT_SERVER = "http://127.0.0.1:8000"
CHUNK = 64 * 1024

ServerOption = Annotated[
    str | None,
    typer.Option(
        "--server",
        envvar="FLUX_SERVER",
        metavar="URL",
        help=f"The `flux serve` server to deploy to (default {DEFAULT_SERVER}).",
        show_default=False,
    ),
]
TokenOption = Annotated[
    str | None,
    typer.Option(
        "--token",
        envvar="FLUX_TOKEN",
        help="The server's admin token (default: the token in flux.toml's server table).",
        show_default=False,
    ),
]
RollbackOption = Annotated[
    bool, typer.Option("--rollback", help="Return to the deployment before the active one.")
]


def _print_result(console: Console, result: dict[str, Any], rollback: bool) -> None:
    ident, version = result["id"], result["code_version"]
    dry_run = bool(result.get("dry_run"))
    if dry_run:
        console.print(
            f"[green]✔[/] dry run, nothing deployed: the bundle passes  code version {version}  "
            f"(running {result.get('previous_code_version') or 'none'})"
        )
    elif rollback:
        console.print(
            f"[green]✔[/] rolled back to [bold]{ident}[/]  code version {version}  "
            f"(was {result.get('rolled_back_from')})"
        )
    else:
        console.print(
            f"[green]✔[/] deployed [bold]{ident}[/]  code version {version}  "
            f"(was {result.get('previous_code_version') or 'none'})"
        )
    changes = result.get("changes") or {}
    styles = {"added": "green", "changed": "yellow", "removed": "red"}
    shown = False
    for key in ("added", "changed", "removed"):
        for name in changes.get(key) or []:
            console.print(f"  [{styles[key]}]{key:<8}[/] {name}")
            shown = True
    if not shown:
        console.print("  no file changed")
    for name in result.get("migrations_applied") or []:
        console.print(f"  [cyan]{'would migrate' if dry_run else 'migrated'}[/] {name}")


def _upload(client: httpx.Client, bundle: bytes, console: Console, dry_run: bool) -> httpx.Response:
    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("uploading", total=len(bundle))

        def chunks() -> Iterator[bytes]:
            for start in range(0, len(bundle), CHUNK):
                piece = bundle[start : start + CHUNK]
                yield piece
                progress.advance(task, len(piece))

        return client.post(
            "/_flux/deploy",
            params={"dry_run": "1"} if dry_run else None,
            content=chunks(),
            headers={
                "content-type": "application/octet-stream",
                "content-length": str(len(bundle)),
            },
        )


@app.command()
def deploy(
    project: ProjectOption = Path("."),
    server: ServerOption = None,
    token: TokenOption = None,
    rollback: RollbackOption = False,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Have the server check the bundle and show what would change; deploy nothing.",
        ),
    ] = False,
    json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Ship functions/, migrations/, templates/ and flux.toml to a `flux serve` server.

    Examples:

      flux deploy --server https://flux.example.com

      flux deploy --dry-run --json

      flux deploy --rollback
    """
    import httpx
    from rich.console import Console

    from flux_lsp.bundle import build_bundle, project_files
    from flux_lsp.project import Project, is_remote
    from flux_lsp.recorder.remote_store import base_url

    console = Console(stderr=True, highlight=False)
    if rollback and dry_run:
        fail("--dry-run checks a bundle to deploy; it does not go with --rollback")
    with user_errors():
        loaded = Project.load(project)
        url = base_url(server or DEFAULT_SERVER)
        if not is_remote(url):
            raise UserError(f"bad server URL {url!r}: expected http://… or https://…")
        secret = token or loaded.settings.server.token
        if not secret:
            raise UserError(
                "no token: pass --token, or set FLUX_TOKEN (in the environment or .env)"
            )
        for name in loaded.secrets_in_file:
            console.print(
                f"flux deploy: warning: flux.toml sets the secret {name}, and flux.toml is "
                "uploaded; set it in the server's environment instead (see `flux config`)"
            )
        headers = {"authorization": f"Bearer {secret}"}
        try:
            with httpx.Client(base_url=url, headers=headers, timeout=120.0) as client:
                if rollback:
                    result = answer(client.post("/_flux/rollback"), url)
                else:
                    files = project_files(loaded)
                    if not any(name.startswith("functions/") for name in files):
                        raise UserError(f"nothing to deploy: no functions in {loaded.root}")
                    bundle = build_bundle(files)
                    console.print(
                        f"flux deploy: {len(files)} files ({len(bundle):,} bytes) → {url}"
                    )
                    result = answer(_upload(client, bundle, console, dry_run), url)
        except httpx.HTTPError as exc:
            fail(f"cannot reach {url}: {exc}")
    if json:
        from flux_lsp.cli.render_json import print_json

        print_json(result)
        return
    out = Console(highlight=False, soft_wrap=True)
    _print_result(out, result, rollback)
