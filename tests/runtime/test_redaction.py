"""Secrets never reach the recorder: scan the recorder file's bytes after planting them."""

from __future__ import annotations

from pathlib import Path

from tests.harness import FluxApp, write_function

PASSWORD = "hunter2-planted-password"
BEARER = "Bearer planted-bearer-token-abc123"
STRIPE_SIG = "t=1700000000,v1=plantedsignature0123456789abcdef"
CARD = "4242424242424242"

LEAKY = """\
async def handler(req, ctx):
    body = await req.json()
    password = body["password"]
    api_key = body["password"] + "-key"
    creds = {"token": body["password"], "note": "fine"}
    raise RuntimeError("boom")
"""


async def test_planted_secrets_are_nowhere_in_the_recorder_file(shop: Path) -> None:
    write_function(shop, "leaky", LEAKY)
    (shop / "migrations" / "003_accounts.sql").write_text(
        "CREATE TABLE accounts (id TEXT PRIMARY KEY, email TEXT, password TEXT);"
    )
    write_function(
        shop,
        "make_account",
        "async def handler(req, ctx):\n"
        "    body = await req.json()\n"
        "    await ctx.db.insert('accounts', {'email': body['email'], "
        "'password': body['password']})\n"
        "    return {'ok': True}\n",
    )
    headers = {
        "authorization": BEARER,
        "stripe-signature": STRIPE_SIG,
        "cookie": "session=planted-cookie-value",
    }
    async with FluxApp(shop) as flux:
        r = await flux.client.post(
            "/create_user",
            json={"email": "a@b.com", "password": PASSWORD, "card_number": CARD},
            headers=headers,
        )
        assert r.status_code == 201
        r = await flux.client.post("/leaky", json={"password": PASSWORD}, headers=headers)
        assert r.status_code == 500
        leaky_id = r.headers["x-flux-request-id"]
        r = await flux.client.post("/make_account", json={"email": "x@y", "password": PASSWORD})
        assert r.status_code == 200
        e, leaky = await flux.recorded(r.headers["x-flux-request-id"], leaky_id)
        flux.writer.close()
    assert e.mutations[0].after is not None
    assert e.mutations[0].after["password"] == "[redacted]"
    assert e.mutations[0].after["email"] == "x@y"

    blob = b"".join(p.read_bytes() for p in (shop / ".flux").glob("recorder.db*") if p.is_file())
    assert blob, "the recorder file is empty"
    for secret in (PASSWORD, "planted-bearer-token", "plantedsignature", CARD, "planted-cookie"):
        assert secret.encode() not in blob, secret
    assert leaky.error is not None
    assert leaky.error.locals["api_key"] == "[redacted]"
    assert leaky.error.locals["password"] == "[redacted]"
    assert leaky.error.locals["creds"] == "{'note': 'fine', 'token': '[redacted]'}"
    assert b"[redacted]" in blob
