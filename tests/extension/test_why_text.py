"""One why text: the CLI, the hover and the webview say the same words for the seed incident.

The seed incident (a Stripe webhook that ran before the signup that creates its row) is
explained by `flux why` in the terminal, by the hover's Markdown in the editor, and by the
extension's report page. Each renderer lays the report's `sections` out its own way; read
back as text, with layout (spacing, emphasis, escapes, tags) taken away, the three must be
the same words, in the same order, as the report's sections.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from flux_lsp.analysis.why import WhyReport, explain
from flux_lsp.encode import to_json
from flux_lsp.lsp import markdown
from flux_lsp.recorder.open_store import open_store
from tests.cli.flux import flux
from tests.cli.incident import Incident
from tests.extension import tools


def words(text: str) -> str:
    return " ".join(text.split())


def sections_text(report: WhyReport) -> str:
    return words(" ".join(f"{s.label} {' '.join(s.lines)}" for s in report.sections))


def cli_text(incident: Incident) -> str:
    r = flux("why", incident.failed_webhook[:8], "-p", str(incident.project))
    assert r.code == 0, r.err
    return words(r.out)


def hover_text(report: WhyReport) -> str:
    """The hover's Markdown without its heading and footer, emphasis and escapes."""
    body = markdown.why(report).splitlines()[1:-1]
    plain = re.sub(r"\\(.)", r"\1", "\n".join(body).replace("**", ""))
    return words(plain)


class _WhyRows(HTMLParser):
    """The text inside the page's `.why-row` rows."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.depth:
            self.depth += 1
        elif tag == "tr" and ("class", "why-row") in attrs:
            self.depth = 1

    def handle_endtag(self, tag: str) -> None:
        if self.depth:
            self.depth -= 1

    def handle_data(self, data: str) -> None:
        if self.depth:
            self.parts.append(data)


def webview_text(report: WhyReport, tmp_path: Path) -> str:
    node, why = tools.node()
    if node is None:
        pytest.fail(f"webview renderer skipped: {why}")
    built, why = tools.built_extension()
    if not built:
        pytest.fail(f"webview renderer skipped: {why}")
    answers = {
        "why": {"kind": "why", "execution_id": report.execution.id, "report": to_json(report)}
    }
    source, page = tmp_path / "why.json", tmp_path / "why.html"
    source.write_text(json.dumps(answers))
    render = subprocess.run(
        [node, str(tools.EXTENSION / "dist" / "render-cli.js"), str(source), str(page)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert render.returncode == 0, render.stderr
    rows = _WhyRows()
    rows.feed(page.read_text(encoding="utf-8"))
    return words(" ".join(rows.parts))


def test_the_cli_the_hover_and_the_webview_show_the_same_why_text(
    incident: Incident, tmp_path: Path
) -> None:
    async def load() -> WhyReport:
        store = await open_store(incident.recorder)
        try:
            return await explain(store, await store.get(incident.failed_webhook))
        finally:
            await store.close()

    report = asyncio.run(load())
    expected = sections_text(report)
    assert "ROOT CAUSE Row not found: subscriptions WHERE customer_id = 'cus_ABC'" in expected
    assert "later by confirm_email" in expected
    assert cli_text(incident) == expected
    assert hover_text(report) == expected
    assert webview_text(report, tmp_path) == expected
