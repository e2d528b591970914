"""The example shop's incident as data: its webhook secret, a payment event, and the fix.

`make demo` and the tests tell the same story, so they take its pieces from here: the Stripe
endpoint secret in `examples/shop/flux.toml`, a signed `payment_intent.succeeded` event, and
the one-change fix to `signup` (create the subscription row before the payment can arrive).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flux_lsp.runtime.stripe import signed_webhook

SHOP = Path(__file__).resolve().parent / "shop"
SECRET = "whsec_flux_example_secret"
"""The shop's Stripe endpoint secret (its flux.toml)."""
ROW_NOT_FOUND = "Row not found: subscriptions WHERE customer_id = 'cus_ABC'"
"""The error the webhook fails with when the payment arrives before the subscription row."""

_BUG = "    # The subscription row is created by confirm_email, once the address is confirmed.\n"
_FIX = """\
    # Create the subscription row now: the payment webhook can arrive before confirm_email.
    await ctx.db.insert(
        "subscriptions",
        {
            "customer_id": customer_id,
            "user_id": user.id,
            "status": "pending",
            "created_at": ctx.now(),
        },
    )
"""


def payment_event(
    customer_id: str, amount: int = 4900, event_id: str | None = None
) -> dict[str, Any]:
    """A Stripe `payment_intent.succeeded` event for one customer."""
    return {
        "id": event_id or f"evt_{customer_id}",
        "object": "event",
        "type": "payment_intent.succeeded",
        "data": {
            "object": {
                "id": "pi_1",
                "object": "payment_intent",
                "customer_id": customer_id,
                "amount": amount,
            }
        },
    }


def signed_payment(
    customer_id: str, amount: int = 4900, event_id: str | None = None
) -> tuple[bytes, dict[str, str]]:
    """The body and headers of that event as Stripe would send it to the shop."""
    return signed_webhook(payment_event(customer_id, amount, event_id), SECRET)


def fixed_signup() -> str:
    """The text of `functions/signup.py` with the bug fixed."""
    text = (SHOP / "functions" / "signup.py").read_text()
    if _BUG not in text:
        raise ValueError("examples/shop/functions/signup.py no longer has the known bug")
    return text.replace(_BUG, _FIX)


def fix_signup(project: Path) -> None:
    """Apply the fix to a copy of the shop."""
    (project / "functions" / "signup.py").write_text(fixed_signup())
