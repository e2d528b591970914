"""Replays are kept apart from live traffic: `flux tail` and `flux status` leave them out,
`--filter kind=replay` shows them, marked as replays of their original. On each recorder
backend."""

from __future__ import annotations

import asyncio
from pathlib import Path

from flux_lsp.model import short_id
from tests.cli.flux import flux
from tests.harness import FluxApp
from tests.recorders import recorder_database, use_recorder


async def create_user(shop: Path) -> str:
    async with FluxApp(shop) as app:
        r = await app.client.post("/create_user", json={"email": "a@b.com", "name": "A"})
        app.flush()
    return r.headers["x-flux-request-id"]


def test_tail_and_status_keep_replays_apart(shop: Path, backend_server: str | None) -> None:
    with recorder_database(backend_server) as url:
        use_recorder(shop, url)
        check_replays_kept_apart(shop)


def check_replays_kept_apart(shop: Path) -> None:
    original = asyncio.run(create_user(shop))
    for _ in range(3):
        assert flux("replay", original, "-p", str(shop), "--json").code == 0

    live = flux("tail", "-p", str(shop), "--json").json()["executions"]
    assert [e["id"] for e in live] == [original]

    replays = flux("tail", "-p", str(shop), "--json", "--filter", "kind=replay").json()
    assert len(replays["executions"]) == 3
    for line in replays["executions"]:
        assert line["kind"] == "replay" and line["replay_of"] == short_id(original)
        assert line["target"] == "REPLAY  POST /create_user"
    shown = flux("tail", "-p", str(shop), "--filter", "kind=replay").out
    assert shown.count(f"replay of {short_id(original)}") == 3
    assert "REPLAY  POST /create_user  201" in shown

    status = flux("status", "-p", str(shop), "--json").json()
    assert (status["executions"], status["replays"]) == (1, 3)
    text = flux("status", "-p", str(shop)).out
    assert "Executions   1  (and 3 replays)" in text
