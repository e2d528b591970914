"""The seed's incident, recorded by driving the real example shop: the recorder the tests read.

A signup, then a Stripe payment webhook that fails because the subscription row does not exist
yet, then the email confirmation that creates the row, then the same webhook succeeding, plus
the REST examples (a created user, a validation error), a bad signature, an exception in user
code and the onboarding job the signup enqueued.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from examples.shop_story import payment_event, signed_payment
from flux_lsp.recorder.query import ExecutionQuery
from flux_lsp.runtime.stripe import signed_webhook
from tests.harness import FluxApp, copy_shop, write_function
from tests.recorders import use_recorder

DIVIDE = """\
async def handler(req, ctx):
    body = await req.json()
    total = body["total"]
    share = total / body["people"]
    return {"share": share}
"""


@dataclass(slots=True)
class Incident:
    project: Path
    recorder: str
    """The recorder's location: its file, or its PostgreSQL URL."""
    created_user: str
    validation_error: str
    signup: str
    failed_webhook: str
    confirm_email: str
    good_webhook: str
    bad_signature: str
    exception: str
    job: str
    extra: list[str]


async def record_incident(
    tmp: Path, gap: float = 0.05, recorder_url: str | None = None
) -> Incident:
    """Record the incident in a copy of the shop; `gap` seconds pass between the failed webhook
    and the confirmation that creates its row. It goes into the project's file, or into the
    PostgreSQL `recorder_url`."""
    project = copy_shop(tmp)
    use_recorder(project, recorder_url)
    write_function(project, "divide", DIVIDE)
    ids: dict[str, str] = {}
    async with FluxApp(project) as flux:

        async def post(name: str, path: str, **kwargs: Any) -> None:
            r = await flux.client.post(path, **kwargs)
            ids[name] = r.headers["x-flux-request-id"]

        await post("created_user", "/create_user", json={"email": "a@b.com", "name": "Alice"})
        await post("validation_error", "/create_user", json={"name": "Alice"})
        await post("signup", "/signup", json={"email": "c@d.com", "customer_id": "cus_ABC"})
        body, headers = signed_payment("cus_ABC", event_id="evt_1")
        await post("failed_webhook", "/stripe_webhook", content=body, headers=headers)
        await asyncio.sleep(gap)
        await post("confirm_email", "/confirm_email", json={"customer_id": "cus_ABC"})
        body, headers = signed_payment("cus_ABC", event_id="evt_1")
        await post("good_webhook", "/stripe_webhook", content=body, headers=headers)
        body, headers = signed_webhook(payment_event("cus_ABC"), "whsec_wrong")
        await post("bad_signature", "/stripe_webhook", content=body, headers=headers)
        await post("exception", "/divide", json={"total": 10, "people": 0})
        for n in range(8):  # 17 executions: some one-digit prefix is then surely ambiguous
            await post(f"extra_{n}", "/create_user", json={"email": f"u{n}@b.com"})
        for _ in range(200):
            store = await flux.store()
            jobs = await store.executions(ExecutionQuery(kind="job"))
            await store.close()
            if jobs:
                ids["job"] = jobs[0].id
                break
            await asyncio.sleep(gap)
        flux.flush()
    extra = [ids.pop(f"extra_{n}") for n in range(8)]
    return Incident(project=project, recorder=flux.project.recorder_location, extra=extra, **ids)
