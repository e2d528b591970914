"""The seed's incident, end to end on the example shop: a paid webhook that beats confirm_email."""

from __future__ import annotations

from pathlib import Path

import pytest

from examples.shop_story import signed_payment
from flux_lsp.runtime.queue import list_jobs
from flux_lsp.runtime.worker import run_pending
from tests.harness import NoWorker

pytestmark = pytest.mark.usefixtures("no_env_secret", "backend")  # on SQLite and PostgreSQL


async def test_webhook_before_confirmation_fails_as_in_the_seed(shop: Path) -> None:
    async with NoWorker(shop) as flux:
        c = flux.client
        # cus_OK signs up and confirms before paying; cus_ABC pays before confirming.
        ok_signup = await c.post("/signup", json={"email": "ok@b.com", "customer_id": "cus_OK"})
        await c.post("/confirm_email", json={"customer_id": "cus_OK"})
        abc_signup = await c.post(
            "/signup", json={"email": "a@b.com", "name": "Alice", "customer_id": "cus_ABC"}
        )
        body, headers = signed_payment("cus_OK")
        ok = await c.post("/stripe_webhook", content=body, headers=headers)
        body, headers = signed_payment("cus_ABC")
        bad = await c.post("/stripe_webhook", content=body, headers=headers)
        jobs = await run_pending(flux.runtime)
        subscriptions = await flux.runtime.database.dump_table("subscriptions")
        sends = await flux.runtime.database.dump_table("email_sends")
        assert await list_jobs(flux.runtime.database, status="pending") == []
        failed, passed, *job_runs = await flux.recorded(
            bad.headers["x-flux-request-id"],
            ok.headers["x-flux-request-id"],
            *(j.execution.id for j in jobs),
        )

    assert (ok.status_code, bad.status_code) == (200, 500)
    message = "Row not found: subscriptions WHERE customer_id = 'cus_ABC'"
    assert bad.json()["error"] == message
    assert failed.error is not None and failed.error.message == message
    assert failed.error.type == "RowNotFound"
    loc = failed.error.location
    assert loc is not None and loc.file == "functions/stripe_webhook.py"
    assert loc.source_line is not None and "ctx.db.update(" in loc.source_line
    [m] = failed.mutations
    assert (m.table, m.op, m.rows_affected) == ("subscriptions", "update", 0)
    assert m.where == {"customer_id": "cus_ABC"}
    verify = next(s for s in failed.spans if s.name == "stripe.verify_webhook")
    assert verify.attributes["stripe.event.type"] == "payment_intent.succeeded"
    assert [s.name for s in failed.spans if s.name == "email.send"] == []

    assert passed.status == "200" and passed.error is None
    assert [(m.table, m.op, m.rows_affected) for m in passed.mutations] == [
        ("subscriptions", "update", 1),
        ("email_sends", "insert", 1),
    ]
    assert {s["customer_id"]: s["status"] for s in subscriptions} == {"cus_OK": "active"}

    # both onboarding emails went out as jobs linked to their signups
    assert sorted((j.function, j.status) for j in job_runs) == [
        ("send_onboarding_email", "done"),
        ("send_onboarding_email", "done"),
    ]
    assert {j.parent_id for j in job_runs} == {
        ok_signup.headers["x-flux-request-id"],
        abc_signup.headers["x-flux-request-id"],
    }
    assert sorted(s["to"] for s in sends) == ["a@b.com", "cus_OK", "ok@b.com"]
