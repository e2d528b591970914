"""No case file holds a secret: planted ones in a header, the body, an outbound call's request
and response, and the app rows the case starts from are scanned for in the file's bytes.

The function is recorded through the real gateway (on each recorder backend), calling a real
HTTP server on loopback; the case saved from it then runs in a clone with no network (its
outbound answer comes from the case) and still passes: the placeholders are consistent.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.cli.flux import flux
from tests.harness import FluxApp, serve_on_loopback, write_function
from tests.recorders import recorder_database, use_recorder

PLANTED = {  # the api key is also copied into an innocent column, where it must not survive
    "header": "PLANTED-bearer-0a1b",
    "password": "PLANTED-password-2c3d",
    "client_secret": "PLANTED-client-4e5f",
    "access_token": "PLANTED-token-6a7b",
    "api_key": "PLANTED-apikey-8c9d",
    "password_hash": "PLANTED-hash-0e1f",
}

LOGIN = """\
async def handler(req, ctx):
    body = await req.json()
    account = await ctx.db.query_one("SELECT * FROM accounts WHERE id = $1", [body["account"]])
    answer = await ctx.http.post(
        "{url}/oauth/token", json={{"client_secret": body["client_secret"]}}
    )
    await ctx.db.update("accounts", {{"id": account.id}}, {{"last_login": ctx.now()}})
    return {{"name": account.name, "access_token": answer.json()["access_token"]}}
"""

ACCOUNTS = """\
CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    api_key TEXT,
    password_hash TEXT,
    note TEXT,
    last_login TEXT
);
"""


async def _token(request: Request) -> JSONResponse:
    return JSONResponse({"access_token": PLANTED["access_token"], "expires_in": 3600})


async def test_no_case_file_contains_a_planted_secret(
    shop: Path, tmp_path: Path, backend_server: str | None
) -> None:
    with recorder_database(backend_server) as url:
        use_recorder(shop, url)
        await _record_save_and_run(shop, tmp_path)


async def _record_save_and_run(shop: Path, tmp_path: Path) -> None:
    (shop / "migrations" / "002_accounts.sql").write_text(ACCOUNTS)
    provider = Starlette(routes=[Route("/oauth/token", _token, methods=["POST"])])
    async with serve_on_loopback(provider) as url:
        write_function(shop, "login", LOGIN.format(url=url))
        async with FluxApp(shop) as app:
            await app.runtime.database.insert(
                None,
                "accounts",
                {
                    "id": "acct_1",
                    "name": "Ada",
                    "api_key": PLANTED["api_key"],
                    "password_hash": PLANTED["password_hash"],
                    "note": f"key rotated to {PLANTED['api_key']} in March",
                },
            )
            response = await app.client.post(
                "/login",
                json={
                    "account": "acct_1",
                    "password": PLANTED["password"],
                    "client_secret": PLANTED["client_secret"],
                },
                headers={"authorization": f"Bearer {PLANTED['header']}"},
            )
            assert response.status_code == 200, response.text
            assert response.json()["access_token"] == PLANTED["access_token"]
            login_id = response.headers["x-flux-request-id"]
            app.flush()

    added = await asyncio.to_thread(
        flux, "test", "add", login_id, "--name", "login", "-p", str(shop)
    )
    assert added.code == 0, added.out + added.err

    path = shop / "tests" / "flux" / "login.json"
    data = path.read_bytes()
    for where, secret in PLANTED.items():
        assert secret.encode() not in data, f"the {where} secret is in the case file"
    assert b"PLANTED" not in data
    case = json.loads(data)
    assert case["rows"]["accounts"] == [
        {
            "id": "acct_1",
            "name": "Ada",
            "api_key": "[redacted]",
            "password_hash": "[redacted]",
            "note": "key rotated to [redacted] in March",
            "last_login": None,
        }
    ]
    assert {
        "rows.accounts.0.api_key",
        "rows.accounts.0.password_hash",
        "rows.accounts.0.note",
        "steps.0.request.headers.authorization",
        "steps.0.request.body.password",
        "steps.0.request.body.client_secret",
        "steps.0.http.0.body.client_secret",
        "steps.0.http.0.response.body.access_token",
        "expect.body.access_token",
    } <= set(case["redacted"])

    # Without the app database here (a recorder read from a server), the rows come from the
    # recorded images: the row the query returned, redacted when it was recorded.
    (shop / ".flux" / "app.db").unlink()
    again = await asyncio.to_thread(
        flux, "test", "add", login_id, "--name", "login_from_recording", "-p", str(shop)
    )
    assert again.code == 0, again.out + again.err
    data = (shop / "tests" / "flux" / "login_from_recording.json").read_bytes()
    assert b"PLANTED" not in data
    assert json.loads(data)["rows"] == case["rows"]

    # The case runs with the network gone (the provider is stopped) and passes.
    clone = tmp_path / "clone"
    shutil.copytree(shop, clone, ignore=shutil.ignore_patterns(".flux", "__pycache__"))
    result = await asyncio.to_thread(flux, "test", "-p", str(clone))
    assert result.code == 0, result.out
