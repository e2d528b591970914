"""POST /create_user — the seed's "Build a REST API" example."""

from starlette.responses import JSONResponse


async def handler(req, ctx):
    body = await req.json()
    email, name = body.get("email"), body.get("name")

    if not email:
        return JSONResponse({"error": "email required"}, status_code=400)

    user = await ctx.db.insert("users", {"email": email, "name": name, "created_at": ctx.now()})
    return JSONResponse({"id": user.id}, status_code=201)
