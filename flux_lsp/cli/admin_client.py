"""Talking to a `flux serve` server's admin API from the command line (deploy, replay).

`answer` reads a JSON answer and turns a refusal into one `UserError` line; `stream_events`
posts a request and yields the JSON Lines the server streams back (`serve/replay_api.py`).
httpx is imported inside, so importing this module costs nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from flux_lsp.cli.user_errors import UserError

if TYPE_CHECKING:
    import httpx

API_PREFIX = "/_flux"


def answer(response: httpx.Response, server: str) -> dict[str, Any]:
    """The JSON of a successful answer; a UserError with the server's reason otherwise."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code == 401:
        raise UserError(f"{server} refused the token: pass --token or set FLUX_TOKEN")
    if isinstance(body, dict) and response.is_success:
        return body
    if isinstance(body, dict) and "error" in body:
        raise UserError(str(body["error"]))
    raise UserError(
        f"{server} answered {response.status_code} without a Flux admin API "
        "(is it `flux serve` with FLUX_TOKEN set?)"
    )


def server_url(server: str) -> str:
    """The server's base URL, checked."""
    from flux_lsp.project import is_remote
    from flux_lsp.recorder.remote_store import base_url

    url = base_url(server)
    if not is_remote(url):
        raise UserError(f"bad server URL {server!r}: expected http://… or https://…")
    return url


def stream_events(
    server: str, token: str | None, path: str, payload: dict[str, Any]
) -> Iterator[dict[str, Any]]:
    """POST `payload` to `/_flux<path>` and yield each JSON line of the answer; an `error`
    event, a refusal or a lost connection is a UserError."""
    import httpx

    url = server_url(server)
    if not token:
        raise UserError("no token: pass --token, or set FLUX_TOKEN (in the environment or .env)")
    headers = {"authorization": f"Bearer {token}"}
    timeout = httpx.Timeout(30.0, read=None)  # a long window streams for as long as it runs
    try:
        with (
            httpx.Client(base_url=url, headers=headers, timeout=timeout) as client,
            client.stream("POST", API_PREFIX + path, json=payload) as response,
        ):
            if not response.is_success:
                response.read()
                answer(response, url)
            for line in response.iter_lines():
                if not line.strip():
                    continue
                event = json.loads(line)
                if event.get("event") == "error":
                    raise UserError(f"the replay on {url} failed: {event.get('error')}")
                yield event
    except httpx.HTTPError as exc:
        raise UserError(f"cannot reach {url}: {exc}") from None
    except ValueError:
        raise UserError(f"{url} answered with a line that is not JSON") from None
