"""The report webview's HTML, rendered from a real recorded failure and opened in Chromium.

The example shop is driven until its Stripe webhook fails; the language server's `flux.why`
and `flux.trace` answers are built from that recording, the extension's renderer writes the
standalone page, and headless Chromium (Debian's) loads it under its strict CSP. The DOM must
hold one bar per span, sized by duration, with the failing span marked. The screenshot is kept
under test-artifacts/extension/.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from flux_lsp.analysis.trace_report import trace_report
from flux_lsp.analysis.why import explain
from flux_lsp.encode import to_json
from flux_lsp.lsp.answer import CommandAnswer
from flux_lsp.recorder.sqlite_store import SQLiteStore
from tests.extension import tools
from tests.extension.incident import record_incident


def _requirements() -> tuple[str, str]:
    node, why = tools.node()
    if node is None:
        pytest.fail(f"webview test skipped: {why}")
    built, why = tools.built_extension()
    if not built:
        pytest.fail(f"webview test skipped: {why}")
    browser, why = tools.chromium()
    if browser is None:
        pytest.fail(f"webview test skipped: {why}")
    return node, browser


@pytest.mark.timeout(900)  # a first run installs Debian's chromium
async def test_failing_trace_renders_one_bar_per_span_with_the_failing_span_marked(
    shop: Path, tmp_path: Path
) -> None:
    node, browser = _requirements()
    incident = await record_incident(shop)
    failing = incident.failing
    store = await SQLiteStore.open(shop / ".flux" / "recorder.db")
    try:
        why = await explain(store, failing)
    finally:
        await store.close()
    # The answers flux_lsp/lsp/commands.py gives flux.why and flux.trace.
    trace = CommandAnswer("trace", failing.id, trace_report(failing), "", execution=failing)
    answers = {"why": CommandAnswer("why", failing.id, why, ""), "trace": trace}
    report = tmp_path / "report.json"
    report.write_text(json.dumps(to_json(answers)))
    out = tools.artifacts("extension")
    page, shot = out / "webview-report.html", out / "webview-report.png"
    render = subprocess.run(
        [node, str(tools.EXTENSION / "dist" / "render-cli.js"), str(report), str(page)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert render.returncode == 0, render.stderr
    run = subprocess.run(
        [node, str(tools.EXTENSION / "e2e" / "screenshot-report.mjs"), str(page), str(shot)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "CHROMIUM_PATH": browser},
    )
    assert run.returncode == 0, run.stderr
    dom = json.loads(run.stdout.strip().splitlines()[-1])

    assert dom["spans"] == dom["bars"] == len(failing.spans)
    assert dom["labels"] == [
        "gateway",
        "stripe_webhook",
        "stripe.verify_webhook",
        "db.update(subscriptions)",
        "response",
    ]
    update = next(s for s in failing.spans if s.name == "db.update")
    assert update.status == "error"
    assert dom["failing"] == [update.id], "the deepest erroring span is the one marked"
    widths = dict(zip(dom["labels"], dom["widths"], strict=True))
    assert widths["gateway"] >= widths["stripe_webhook"] > widths["response"]
    assert dom["sections"][:2] == ["root_cause", "location"]
    assert dom["scripts"] == 0
    assert "script-src 'none'" in dom["csp"]
    assert dom["violations"] == [], "the page obeys its own Content-Security-Policy"
    assert shot.stat().st_size > 10_000
