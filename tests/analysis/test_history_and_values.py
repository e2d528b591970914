"""State history hints and the shared text forms, on recorded executions."""

from __future__ import annotations

import asyncio

from flux_lsp.analysis.history import state_history
from flux_lsp.analysis.values import compact, delay, duration, size
from flux_lsp.model import Execution
from flux_lsp.recorder.open_store import open_store
from tests.cli.incident import Incident


def _get(incident: Incident, ident: str) -> Execution:
    async def load() -> Execution:
        async with await open_store(incident.recorder) as store:
            return await store.get(ident)

    return asyncio.run(load())


def test_no_rows_from_a_job_that_sent_email_points_at_the_send(incident: Incident) -> None:
    job = _get(incident, incident.job)
    report = state_history("email_sends", [], execution=job)
    assert report.empty == (
        f"No rows — {job.short_id} (send_onboarding_email) wrote nothing to email_sends"
    )
    assert report.hints[0].startswith("email.send returned → { status: 'sent', provider: ")
    assert report.hints[0].endswith("yet no email_sends row was written")
    assert report.hints[1] == "→ Check the provider's logs with the message id from the trace"


def test_text_forms() -> None:
    assert (
        compact({"tenant_id": "t_123", "n": 2, "x": None})
        == "{ tenant_id: 't_123', n: 2, x: null }"
    )
    assert compact({"a": {"b": {"c": 1}}}) == "{ a: { b: {…} } }"
    assert (duration(0.42), duration(32.4), duration(1250), duration(125_000)) == (
        "0.4ms", "32ms", "1.25s", "2m05s",
    )  # fmt: skip
    assert (delay(0.054), delay(4.2), delay(180), delay(86400)) == (
        "54 ms", "4.2 s", "3 min", "1 day",
    )  # fmt: skip
    assert (size(812), size(4300)) == ("812 B", "4.2 KB")
