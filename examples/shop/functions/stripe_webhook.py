"""POST /stripe_webhook — the seed's "Handle Stripe webhooks" example."""

from starlette.responses import Response


async def handler(req, ctx):
    event = await ctx.stripe.verify_webhook(req)

    if event["type"] == "payment_intent.succeeded":
        obj = event["data"]["object"]
        customer_id, amount = obj["customer_id"], obj["amount"]
        await ctx.db.update(
            "subscriptions",
            {"customer_id": customer_id},
            {"status": "active", "paid_at": ctx.now()},
        )
        await ctx.email.send(to=customer_id, template="payment_success", data={"amount": amount})

    return Response("ok", status_code=200)
