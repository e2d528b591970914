"""POST /confirm_email — the user clicked the link in the welcome email."""


async def handler(req, ctx):
    body = await req.json()
    customer_id = body["customer_id"]
    existing = await ctx.db.query_one(
        "SELECT id FROM subscriptions WHERE customer_id = $1", [customer_id]
    )
    if existing is None:
        await ctx.db.insert(
            "subscriptions",
            {
                "customer_id": customer_id,
                "user_id": body.get("user_id"),
                "status": "pending",
                "created_at": ctx.now(),
            },
        )
    return {"confirmed": customer_id}
