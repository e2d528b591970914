"""Queue job — the seed's "Debug a background worker" example."""


async def handler(job, ctx):
    user_id = job.data["userId"]

    user = await ctx.db.query_one("SELECT email, name FROM users WHERE id = $1", [user_id])
    if not user:
        raise LookupError(f"User {user_id} not found")

    await ctx.email.send(to=user.email, template="welcome", data={"name": user.name})
