"""`ctx.stripe`: verifying Stripe webhooks with the official `stripe` package, as a recorded span.

`verify_webhook(req)` checks the `Stripe-Signature` header against the endpoint secret
(`STRIPE_WEBHOOK_SECRET` or `[stripe] webhook_secret` in `flux.toml`) with
`stripe.WebhookSignature.verify_header` — Stripe's own scheme and tolerance — and returns the
event as a dict that also reads as attributes (`event["type"]` or `event.type`). A missing or
bad signature raises `HTTPError(400)`, so the handler body never runs with an unverified event.
During a replay the check is skipped (it passed when the request was recorded) and the event is
parsed from the recorded body. `signed_webhook` builds a correctly signed request for tests and
demos.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import stripe

from flux_lsp.runtime.database import Row
from flux_lsp.runtime.error_capture import HTTPError
from flux_lsp.runtime.inflight import Trace

if TYPE_CHECKING:
    from flux_lsp.runtime.runtime import LoadedCode

SIGNATURE_HEADER = "stripe-signature"
VERIFY_SPAN = "stripe.verify_webhook"


class StripeEvent(Row):
    """A webhook event: a plain dict whose keys also read as attributes, at any depth."""


def _as_event(value: Any) -> Any:
    if isinstance(value, Mapping):
        return StripeEvent({str(k): _as_event(v) for k, v in value.items()})
    if isinstance(value, list):
        return [_as_event(v) for v in value]
    return value


def parse_event(payload: bytes) -> StripeEvent:
    """The event in a webhook body; a body that is not a JSON object is a 400."""
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise HTTPError(400, f"Stripe webhook body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise HTTPError(400, "Stripe webhook body must be a JSON object (a Stripe event)")
    event = _as_event(data)
    assert isinstance(event, StripeEvent)
    return event


def signed_webhook(
    payload: Mapping[str, Any] | str | bytes, secret: str, timestamp: int | None = None
) -> tuple[bytes, dict[str, str]]:
    """A webhook body and headers signed as Stripe signs them (for tests and the demo)."""
    if isinstance(payload, Mapping):
        body = json.dumps(payload).encode()
    elif isinstance(payload, str):
        body = payload.encode()
    else:
        body = payload
    header = stripe.WebhookSignature.generate_signature_header(
        body.decode("utf-8"), secret, timestamp=timestamp
    )
    return body, {"content-type": "application/json", "Stripe-Signature": header}


def _header(req: Any, name: str) -> str | None:
    headers = getattr(req, "headers", None)
    if headers is None:
        return None
    value = headers.get(name)
    return str(value) if value is not None else None


async def _body(req: Any) -> bytes:
    body = req.body
    raw = await body() if callable(body) else body
    if isinstance(raw, str):
        return raw.encode()
    return bytes(raw or b"")


class StripeService:
    """`ctx.stripe` for one execution, with the settings of the run's code version."""

    def __init__(self, code: LoadedCode, trace: Trace) -> None:
        self._settings = code.project.settings
        self._trace = trace

    async def verify_webhook(self, req: Any) -> StripeEvent:
        """The verified event of a Stripe webhook request; `HTTPError(400)` when unverified."""
        trace = self._trace
        with trace.span(VERIFY_SPAN, {}) as span:
            payload = await _body(req)
            header = _header(req, SIGNATURE_HEADER)
            span.input = {"bytes": len(payload), "signature_header": header is not None}
            if trace.original is not None:
                recorded = next((s for s in trace.original.spans if s.name == VERIFY_SPAN), None)
                if recorded is not None and recorded.status == "error":
                    span.attributes["flux.stripe.signature"] = "failed when recorded"
                    raise HTTPError(400, recorded.error or "invalid Stripe signature")
                span.attributes["flux.stripe.signature"] = "skipped: verified when recorded"
            else:
                self._verify(payload, header)
                span.attributes["flux.stripe.signature"] = "verified"
            event = parse_event(payload)
            event_id, event_type = event.get("id"), event.get("type")
            span.attributes["stripe.event.id"] = str(event_id) if event_id else None
            span.attributes["stripe.event.type"] = str(event_type) if event_type else None
            span.output = {"id": event_id, "type": event_type}
        return event

    def _verify(self, payload: bytes, header: str | None) -> None:
        secret = self._settings.stripe.webhook_secret
        if not secret:
            raise RuntimeError(
                "no Stripe webhook secret: set STRIPE_WEBHOOK_SECRET or [stripe] webhook_secret "
                "in flux.toml"
            )
        if not header:
            raise HTTPError(400, "missing Stripe-Signature header")
        try:
            stripe.WebhookSignature.verify_header(
                payload, header, secret, tolerance=self._settings.stripe.tolerance
            )
        except stripe.SignatureVerificationError as exc:
            raise HTTPError(400, f"invalid Stripe signature: {exc.user_message or exc}") from None
        except UnicodeDecodeError:
            raise HTTPError(400, "invalid Stripe webhook: body is not UTF-8") from None
