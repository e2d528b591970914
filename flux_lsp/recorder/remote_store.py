"""`RemoteStore`: the `Store` over a `flux serve` server's recorder API, through httpx.

Every `Store` method is one HTTP request under `/_flux/` with `Authorization: Bearer <token>`;
the server answers with the same JSON records the local file holds (`encode.to_json` of
`Execution` and `Mutation`), so the CLI and the language server behave exactly as with a local
recorder. The server's 4xx bodies name the `RecorderError` they stand for (`kind`) and this
module raises that same error, with the same one-line message.

This module also holds the wire format both sides share (the query parameters an
`ExecutionQuery` travels as, and the error bodies), so the server (`flux_lsp.serve`) and
this client cannot drift apart.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import asdict
from typing import Any, NoReturn

import httpx

from flux_lsp.model import JSON, Execution, Mutation, normalize_id
from flux_lsp.recorder.query import (
    FILTER_KEYS,
    ExecutionQuery,
    MutationQuery,
    QueryError,
    check_kind,
    parse_filters,
)
from flux_lsp.recorder.signal import recorder_changes
from flux_lsp.recorder.store import (
    AmbiguousExecution,
    CallSiteResult,
    RecorderCorrupt,
    RecorderError,
    RecorderMissing,
    RecorderStats,
    RecorderTooNew,
    RecorderUnreachable,
    UnknownExecution,
)

API_PREFIX = "/_flux"
MAX_LIMIT = 100_000
"""The largest `limit` the API accepts (and `None`, no limit, travels as no parameter)."""
_HEX = re.compile(r"^[0-9a-f]{1,16}$")
_TRUE = ("1", "true", "yes")
_FALSE = ("0", "false", "no")


class RemoteAuthError(RecorderError):
    """The server refused the token (or none was given)."""


# -- the wire format -----------------------------------------------------------------------


def query_params(query: ExecutionQuery) -> dict[str, str]:
    """An `ExecutionQuery` as URL query parameters (`None` fields are left out)."""
    params: dict[str, str] = {}
    for key in (*FILTER_KEYS, "exclude_kind", "parent_id", "error_file"):
        key = key.rstrip("~")  # `log~=text` travels as `log=text`
        value = getattr(query, key)
        if value is not None:
            params[key] = str(value)
    for key in ("since", "until"):
        value = getattr(query, key)
        if value is not None:
            params[key] = repr(float(value))
    if query.limit is not None:
        params["limit"] = str(int(query.limit))
    params["newest_first"] = "true" if query.newest_first else "false"
    return params


def parse_number(params: Mapping[str, str], key: str) -> float | None:
    """A finite float parameter, or None when absent."""
    text = params.get(key)
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        raise QueryError(f"bad {key} {text!r}: expected epoch seconds") from None
    if not math.isfinite(value):
        raise QueryError(f"bad {key} {text!r}: expected epoch seconds")
    return value


def parse_int(
    params: Mapping[str, str], key: str, default: int | None, low: int = 0, high: int = MAX_LIMIT
) -> int | None:
    """An integer parameter within [low, high], or `default` when absent."""
    text = params.get(key)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise QueryError(f"bad {key} {text!r}: expected a whole number") from None
    if not low <= value <= high:
        raise QueryError(f"bad {key} {value}: expected {low}..{high}")
    return value


def parse_bool(params: Mapping[str, str], key: str, default: bool) -> bool:
    text = params.get(key)
    if text is None:
        return default
    if text.lower() in _TRUE:
        return True
    if text.lower() in _FALSE:
        return False
    raise QueryError(f"bad {key} {text!r}: expected true or false")


def query_from_params(params: Mapping[str, str]) -> ExecutionQuery:
    """The inverse of `query_params`, validating as the command line's filters do."""
    filters = [
        f"{key}={params[key.rstrip('~')]}" for key in FILTER_KEYS if key.rstrip("~") in params
    ]
    query = parse_filters(filters, ExecutionQuery(limit=None))
    exclude = params.get("exclude_kind")
    return query.with_(
        exclude_kind=check_kind(exclude) if exclude is not None else None,
        parent_id=params.get("parent_id"),
        error_file=params.get("error_file"),
        since=parse_number(params, "since"),
        until=parse_number(params, "until"),
        limit=parse_int(params, "limit", None, low=1),
        newest_first=parse_bool(params, "newest_first", True),
    )


def error_status(exc: Exception) -> int:
    """The HTTP status a store error travels with."""
    if isinstance(exc, QueryError):
        return 400
    if isinstance(exc, (UnknownExecution, RecorderMissing)):
        return 404
    if isinstance(exc, AmbiguousExecution):
        return 409
    return 422


def error_payload(exc: Exception) -> dict[str, JSON]:
    """The JSON body for a store error: its one-line message and which error it is."""
    body: dict[str, JSON] = {"error": str(exc), "kind": type(exc).__name__}
    if isinstance(exc, UnknownExecution):
        body["ident"] = exc.ident
    if isinstance(exc, AmbiguousExecution):
        body["ident"] = exc.ident
        body["candidates"] = list(exc.candidates)
    return body


_SIMPLE_ERRORS: dict[str, type[Exception]] = {
    "RecorderMissing": RecorderMissing,
    "RecorderUnreachable": RecorderUnreachable,
    "RecorderCorrupt": RecorderCorrupt,
    "RecorderTooNew": RecorderTooNew,
    "QueryError": QueryError,
    "AdminDisabled": RecorderMissing,
    "NotFound": RecorderMissing,
}


def raise_payload(body: Mapping[str, Any], ident: str | None = None) -> NoReturn:
    """Raise the error a server error body stands for (`ident`: what the caller asked for)."""
    kind = body.get("kind")
    message = str(body.get("error") or "the server refused the request")
    if kind == "UnknownExecution":
        raise UnknownExecution(ident or str(body.get("ident", "")))
    if kind == "AmbiguousExecution":
        candidates = [str(c) for c in body.get("candidates") or []]
        raise AmbiguousExecution(ident or str(body.get("ident", "")), candidates)
    raise _SIMPLE_ERRORS.get(str(kind), RecorderError)(message)


# -- the client ----------------------------------------------------------------------------


def base_url(url: str) -> str:
    """`https://host:8000`, accepting a trailing slash or a trailing `/_flux`."""
    url = url.rstrip("/")
    if url.endswith(API_PREFIX):
        url = url[: -len(API_PREFIX)]
    return url


class RemoteStore:
    """Read access to the recorder of a `flux serve` server."""

    def __init__(self, client: httpx.AsyncClient, url: str) -> None:
        self._client = client
        self.url = url

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        token: str | None = None,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> RemoteStore:
        """Connect and check the server answers with this token (`FLUX_TOKEN` when None)."""
        token = token or os.environ.get("FLUX_TOKEN")
        headers = {"authorization": f"Bearer {token}"} if token else {}
        root = base_url(url)
        client = httpx.AsyncClient(
            base_url=root + API_PREFIX, headers=headers, timeout=timeout, transport=transport
        )
        store = cls(client, root)
        try:
            await store.change_token()
        except BaseException:
            await client.aclose()
            raise
        return store

    async def close(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> RemoteStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- transport -----------------------------------------------------------------------

    def _transport_error(self, exc: httpx.HTTPError) -> RecorderError:
        if isinstance(exc, httpx.ConnectError):
            return RecorderUnreachable(f"cannot reach the Flux server at {self.url}: {exc}")
        if isinstance(exc, httpx.TimeoutException):
            return RecorderError(f"the Flux server at {self.url} did not answer in time")
        return RecorderError(f"talking to the Flux server at {self.url} failed: {exc}")

    def _check(self, response: httpx.Response, ident: str | None = None) -> None:
        """Raise the right RecorderError unless the response is a success."""
        if response.is_success:
            return
        if response.status_code == 401:
            raise RemoteAuthError(
                f"the Flux server at {self.url} refused the token: pass --token or set FLUX_TOKEN"
            )
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or "kind" not in body:
            raise RecorderMissing(
                f"{self.url} answered {response.status_code} with no recorder API "
                "(is it `flux serve` with FLUX_TOKEN set?)"
            )
        raise_payload(body, ident)

    async def _get(
        self, path: str, params: Mapping[str, str] | None = None, ident: str | None = None
    ) -> Any:
        try:
            response = await self._client.get(path, params=params)
        except httpx.HTTPError as exc:
            raise self._transport_error(exc) from None
        self._check(response, ident)
        try:
            return response.json()
        except ValueError:
            raise RecorderError(f"{self.url} answered with a body that is not JSON") from None

    # -- the Store protocol --------------------------------------------------------------

    async def get(self, ident: str) -> Execution:
        prefix = normalize_id(ident)
        if not _HEX.match(prefix):
            raise UnknownExecution(ident)
        data = await self._get(f"/executions/{prefix}", ident=ident)
        return Execution.from_dict(data)

    async def executions(self, query: ExecutionQuery) -> list[Execution]:
        data = await self._get("/executions", query_params(query))
        return [Execution.from_dict(e) for e in data["executions"]]

    async def stream(self, query: ExecutionQuery) -> AsyncIterator[Execution]:
        try:
            async with self._client.stream(
                "GET", "/executions/export", params=query_params(query)
            ) as response:
                if not response.is_success:
                    await response.aread()
                    self._check(response)
                async for line in response.aiter_lines():
                    if line.strip():
                        yield Execution.from_dict(json.loads(line))
        except httpx.HTTPError as exc:
            raise self._transport_error(exc) from None

    async def mutations(self, query: MutationQuery) -> list[Mutation]:
        params = {
            key: repr(float(value)) if key in ("since", "until") else str(value)
            for key, value in asdict(query).items()
            if value is not None and key != "creations"
        }
        if query.creations:
            params["creations"] = "true"
        data = await self._get("/mutations", params)
        return [Mutation.from_dict(m) for m in data["mutations"]]

    async def call_sites(
        self, file: str, line: int, *, since: float | None = None, limit: int = 20
    ) -> list[CallSiteResult]:
        params = {"file": file, "line": str(line), "limit": str(limit)}
        if since is not None:
            params["since"] = repr(float(since))
        data = await self._get("/call_sites", params)
        return [CallSiteResult(**c) for c in data["call_sites"]]

    async def function_stats(
        self, function: str, *, since: float | None = None, limit: int = 500
    ) -> list[Execution]:
        params = {"function": function, "limit": str(limit)}
        if since is not None:
            params["since"] = repr(float(since))
        data = await self._get("/function_stats", params)
        return [Execution.from_dict(e) for e in data["executions"]]

    async def stats(self) -> RecorderStats:
        data = await self._get("/stats")
        data["location"] = self.url
        return RecorderStats(**data)

    async def change_token(self) -> int:
        data = await self._get("/change_token")
        return int(data["token"])

    def changes(self, fallback: float) -> AsyncIterator[bool]:
        return recorder_changes(self.url, fallback)  # polling: a server sends no signal here

    # -- beyond the protocol -------------------------------------------------------------

    async def follow(self, query: ExecutionQuery) -> AsyncIterator[Execution]:
        """New executions matching `query` as the server records them (server-sent events).

        The server ends each stream after a while; this reconnects from the last event seen,
        so the caller sees one endless, gap-free sequence until it stops iterating.
        """
        params = query_params(query.with_(limit=None))
        last: str | None = None
        while True:
            headers = {"last-event-id": last} if last else {}
            try:
                async with self._client.stream(
                    "GET", "/tail", params=params, headers=headers, timeout=None
                ) as response:
                    if not response.is_success:
                        await response.aread()
                        self._check(response)
                    data: list[str] = []
                    async for line in response.aiter_lines():
                        if line.startswith("id:"):
                            last = line[3:].strip()
                        elif line.startswith("data:"):
                            data.append(line[5:].strip())
                        elif not line and data:
                            yield Execution.from_dict(json.loads("\n".join(data)))
                            data = []
            except httpx.HTTPError as exc:
                raise self._transport_error(exc) from None


def stats_payload(stats: RecorderStats) -> dict[str, JSON]:
    """`RecorderStats` as it travels (the server's own file location left out)."""
    data = asdict(stats)
    data["location"] = ""
    return data
