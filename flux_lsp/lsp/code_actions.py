"""Code actions on flux diagnostics: Why, Show trace, Replay against current code, Replay incident,
Save as regression test, Debug this request.

Each action carries a `workspace/executeCommand` command (see `commands`) with the failure's
latest request id and the document's uri, so the client runs it and shows the report.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lsprotocol import types

from flux_lsp.lsp.diagnostics import SOURCE
from flux_lsp.model import short_id

if TYPE_CHECKING:
    from flux_lsp.lsp.server import FluxLanguageServer


def debug_title(rid: str) -> str:
    return f"Flux: Debug this request ({rid})"


def actions_for(uri: str, diagnostic: types.Diagnostic) -> list[types.CodeAction]:
    """The actions of one flux diagnostic (none for anything else)."""
    data = diagnostic.data
    if diagnostic.source != SOURCE or not isinstance(data, dict):
        return []
    latest = data.get("latest")
    if not isinstance(latest, str):
        return []
    arg: dict[str, Any] = {"id": latest, "uri": uri}
    rid = short_id(latest)
    specs = (
        (f"Flux: Why {rid}", "flux.why"),
        (f"Flux: Show trace {rid}", "flux.trace"),
        (f"Flux: Replay {rid} against current code", "flux.replay"),
        ("Flux: Replay incident (time window around it)", "flux.incidentReplay"),
        (f"Flux: Save {rid} as regression test", "flux.saveRegressionTest"),
        (debug_title(rid), "flux.debug"),
    )
    return [
        types.CodeAction(
            title=title,
            kind=types.CodeActionKind.QuickFix,
            diagnostics=[diagnostic],
            command=types.Command(title=title, command=command, arguments=[arg]),
        )
        for title, command in specs
    ]


def code_action(
    ls: FluxLanguageServer, params: types.CodeActionParams
) -> list[types.CodeAction] | None:
    uri = params.text_document.uri
    out: list[types.CodeAction] = []
    for diagnostic in params.context.diagnostics:
        out.extend(actions_for(uri, diagnostic))
    return out or None


def register(ls: FluxLanguageServer) -> None:
    ls.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix]),
    )(code_action)
