"""ctx.stripe.verify_webhook: Stripe's signature scheme through the official package, recorded."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from flux_lsp.model import Execution, Span
from flux_lsp.runtime.error_capture import HTTPError
from flux_lsp.runtime.inflight import Trace
from flux_lsp.runtime.stripe import StripeService, signed_webhook
from tests.harness import FluxApp, NoWorker

SECRET = "whsec_flux_example_secret"  # the example shop's flux.toml

pytestmark = pytest.mark.usefixtures("no_env_secret", "backend")  # on SQLite and PostgreSQL


def event(customer_id: str = "cus_ABC", amount: int = 4900) -> dict[str, Any]:
    return {
        "id": "evt_1",
        "object": "event",
        "type": "payment_intent.succeeded",
        "data": {"object": {"customer_id": customer_id, "amount": amount}},
    }


async def post_webhook(flux: FluxApp, body: bytes, headers: dict[str, str]) -> Execution:
    r = await flux.client.post("/stripe_webhook", content=body, headers=headers)
    [e] = await flux.recorded(r.headers["x-flux-request-id"])
    assert e.status == str(r.status_code)
    if r.status_code == 400:
        assert r.json()["error"] == (e.error.message if e.error else None)
    return e


def verify_span(e: Execution) -> Span:
    return next(s for s in e.spans if s.name == "stripe.verify_webhook")


async def test_valid_signature_runs_the_handler_and_records_the_event(shop: Path) -> None:
    async with NoWorker(shop) as flux:
        await flux.client.post("/confirm_email", json={"customer_id": "cus_ABC"})
        body, headers = signed_webhook(event(), SECRET)
        e = await post_webhook(flux, body, headers)
    assert e.status == "200" and e.error is None
    span = verify_span(e)
    assert span.status == "ok"
    assert span.attributes["stripe.event.id"] == "evt_1"
    assert span.attributes["stripe.event.type"] == "payment_intent.succeeded"
    assert span.attributes["flux.stripe.signature"] == "verified"
    assert span.file == "functions/stripe_webhook.py" and span.line == 7
    update, insert = e.mutations
    assert (update.table, update.op, update.rows_affected) == ("subscriptions", "update", 1)
    assert (insert.table, insert.op) == ("email_sends", "insert")
    assert e.request["headers"]["stripe-signature"] == "[redacted]"
    assert e.request["body"] == event()


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("tampered", "invalid Stripe signature: No signatures found matching"),
        ("wrong_secret", "invalid Stripe signature: No signatures found matching"),
        ("stale", "invalid Stripe signature: Timestamp outside the tolerance zone"),
        ("missing", "missing Stripe-Signature header"),
        ("garbled", "invalid Stripe signature: Unable to extract timestamp"),
    ],
)
async def test_unverified_webhook_is_a_recorded_400_and_the_handler_stops(
    shop: Path, case: str, message: str
) -> None:
    body, headers = signed_webhook(event(), SECRET)
    if case == "tampered":
        body = json.dumps(event(amount=1)).encode()
    elif case == "wrong_secret":
        body, headers = signed_webhook(event(), "whsec_someone_else")
    elif case == "stale":
        body, headers = signed_webhook(event(), SECRET, timestamp=int(time.time()) - 301)
    elif case == "missing":
        del headers["Stripe-Signature"]
    elif case == "garbled":
        headers["Stripe-Signature"] = "nonsense"
    async with NoWorker(shop) as flux:
        await flux.client.post("/confirm_email", json={"customer_id": "cus_ABC"})
        e = await post_webhook(flux, body, headers)
    assert e.status == "400"
    assert e.error is not None and e.error.message.startswith(message)
    assert e.error.type == "ValidationError"
    assert e.error.location is not None and e.error.location.line == 7
    span = verify_span(e)
    assert span.status == "error" and span.error == e.error.message
    assert not e.mutations
    assert [s.name for s in e.spans if s.name.startswith(("db.", "email."))] == []


async def test_missing_secret_is_a_server_error_naming_the_setting(shop: Path) -> None:
    (shop / "flux.toml").write_text("")
    async with NoWorker(shop) as flux:
        body, headers = signed_webhook(event(), SECRET)
        e = await post_webhook(flux, body, headers)
    assert e.status == "500"
    assert e.error is not None and "STRIPE_WEBHOOK_SECRET" in e.error.message


async def test_secret_from_environment_wins(shop: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", "whsec_from_env")
    async with NoWorker(shop) as flux:
        await flux.client.post("/confirm_email", json={"customer_id": "cus_ABC"})
        ok = await post_webhook(flux, *signed_webhook(event(), "whsec_from_env"))
        bad = await post_webhook(flux, *signed_webhook(event(), SECRET))
    assert (ok.status, bad.status) == ("200", "400")


class FakeRequest:
    def __init__(self, body: bytes, headers: dict[str, str]) -> None:
        self._body = body
        self.headers = {k.lower(): v for k, v in headers.items()}

    async def body(self) -> bytes:
        return self._body


def replay_trace(original: Execution) -> Trace:
    return Trace("replay1", "/nowhere/", "/nowhere", original)


def recorded(spans: list[Span]) -> Execution:
    return Execution(
        id="orig", kind="http", function="stripe_webhook", method="POST",
        path="/stripe_webhook", status="200", started_at=0.0, duration_ms=1.0, spans=spans,
    )  # fmt: skip


async def test_replay_skips_the_signature_check_and_parses_the_body(shop: Path) -> None:
    original = recorded([Span(id=1, name="stripe.verify_webhook")])
    trace = replay_trace(original)
    async with NoWorker(shop) as flux:
        service = StripeService(flux.runtime.code, trace)
        # the recorded request has its signature header redacted: no check is possible or needed
        req = FakeRequest(json.dumps(event()).encode(), {"stripe-signature": "[redacted]"})
        got = await service.verify_webhook(req)
    assert got["type"] == "payment_intent.succeeded" and got.data.object.amount == 4900
    [span] = trace.spans
    assert span.attributes["flux.stripe.signature"] == "skipped: verified when recorded"
    assert span.attributes["stripe.event.id"] == "evt_1"


async def test_replay_of_a_request_that_failed_verification_fails_the_same_way(shop: Path) -> None:
    failed = Span(id=1, name="stripe.verify_webhook", status="error", error="missing header X")
    trace = replay_trace(recorded([failed]))
    async with NoWorker(shop) as flux:
        service = StripeService(flux.runtime.code, trace)
        with pytest.raises(HTTPError) as info:
            await service.verify_webhook(FakeRequest(json.dumps(event()).encode(), {}))
    assert (info.value.status, info.value.message) == (400, "missing header X")


def test_signed_webhook_is_verifiable_by_stripe() -> None:
    import stripe

    body, headers = signed_webhook({"id": "evt_2", "type": "x"}, "whsec_t")
    assert stripe.WebhookSignature.verify_header(body, headers["Stripe-Signature"], "whsec_t")
