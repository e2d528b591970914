"""POST /signup — creates the account; the client starts the payment right after."""

from starlette.responses import JSONResponse


async def handler(req, ctx):
    body = await req.json()
    email, customer_id = body.get("email"), body.get("customer_id")
    if not email or not customer_id:
        return JSONResponse({"error": "email and customer_id required"}, status_code=400)

    user = await ctx.db.insert(
        "users", {"email": email, "name": body.get("name"), "created_at": ctx.now()}
    )
    await ctx.queue.enqueue("send_onboarding_email", {"userId": user.id})
    # The subscription row is created by confirm_email, once the address is confirmed.
    return JSONResponse({"id": user.id, "customer_id": customer_id}, status_code=201)
