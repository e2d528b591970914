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


DOORS = """\
import logging


async def handler(req, ctx):
    await ctx.db.query("SELECT id FROM accounts WHERE password = 'literal-planted-pass'")
    token = req.headers["authorization"].split()[1]
    innocent = req.query_params["p"]
    await ctx.db.query(
        "INSERT INTO accounts (id, email, password) VALUES ($1, $2, $3)", ["a1", "q@r", innocent]
    )
    await ctx.db.query(
        "SELECT id FROM accounts WHERE email = $1 AND password = $2", ["q@r", innocent]
    )
    held = token + ""
    raise RuntimeError(f"upstream refused {held}")
"""

FORM_SECRET = "form-planted-password"
QUERY_SECRET = "query-planted-secret"
UPSTREAM = "upstream-planted-token-999"
HUB = "sha256=plantedhubsignature"


async def test_every_door_is_redacted(shop: Path) -> None:
    """Form, multipart, query string, SQL parameters and literals, nested card fields, new
    key words, signature headers, and copies of a secret in a local and an error message."""
    (shop / "migrations" / "003_accounts.sql").write_text(
        "CREATE TABLE accounts (id TEXT PRIMARY KEY, email TEXT, password TEXT);"
    )
    write_function(shop, "doors", DOORS)
    write_function(shop, "echo", "async def handler(req, ctx):\n    return {'ok': True}\n")
    async with FluxApp(shop) as flux:
        form = await flux.client.post(
            f"/echo?password={QUERY_SECRET}",
            data={"name": "alice", "password": FORM_SECRET, "card_number": CARD},
            headers={"x-hub-signature-256": HUB},
        )
        multipart = await flux.client.post(
            "/echo",
            files={"avatar": ("a.txt", b"file-bytes")},
            data={"pwd": "multipart-planted-pwd", "name": "bob"},
        )
        nested = await flux.client.post(
            "/echo",
            json={
                "card": {"number": "4000056655665556", "exp_month": 4},
                "private_key": "pk-planted-value",
            },
        )
        doors = await flux.client.post(
            f"/doors?p={QUERY_SECRET}-sql",
            headers={"x-upstream": "x", "authorization": f"Bearer {UPSTREAM}"},
        )
        assert [r.status_code for r in (form, multipart, nested)] == [200, 200, 200]
        assert doors.status_code == 500
        ids = [r.headers["x-flux-request-id"] for r in (form, multipart, nested, doors)]
        recorded = await flux.recorded(*ids)
        flux.writer.close()

    blob = b"".join(p.read_bytes() for p in (shop / ".flux").glob("recorder.db*") if p.is_file())
    for secret in (
        FORM_SECRET, QUERY_SECRET, CARD, HUB, "plantedhubsignature", "multipart-planted-pwd",
        "4000056655665556", "pk-planted-value", "literal-planted-pass", UPSTREAM,
    ):  # fmt: skip
        assert secret.encode() not in blob, secret
    form_record, multipart_record, nested_record, doors_record = recorded
    assert form_record.request["body"] == (
        "name=alice&password=%5Bredacted%5D&card_number=%5Bredacted%5D"
    )
    assert "bob" in str(multipart_record.request["body"])
    assert nested_record.request["body"] == {
        "card": {"number": "[redacted]", "exp_month": 4},
        "private_key": "[redacted]",
    }
    assert doors_record.error is not None
    assert doors_record.error.message == "upstream refused [redacted]"
    assert doors_record.error.locals["held"] == "'[redacted]'"
    queries = [s.input for s in doors_record.spans if s.name == "db.query"]
    assert queries[1] == {
        "sql": "INSERT INTO accounts (id, email, password) VALUES ($1, $2, $3)",
        "params": ["a1", "q@r", "[redacted]"],
    }
