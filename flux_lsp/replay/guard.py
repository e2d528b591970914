"""The network guard of re-runs: a connection outside `ctx.http` fails the run instead of leaving.

A replay, a debug session or a regression case must not reach the network: outbound HTTP is
answered from the recording by `ctx.http`, and nothing else may connect. `no_network()` scopes
a guard to the code running inside it (the current thread's context, and the asyncio tasks it
starts), so a language server replaying in-process keeps its own connections. The guard is a
`sys.addaudithook` on `socket.connect` and `socket.getaddrinfo`: a connection or name lookup
outside loopback raises `OutboundConnection` ("made a network call outside ctx.http: …") in
the code that made it, which makes the run's outcome failing. Loopback endpoints Flux itself
uses (the debugger) are excepted by passing them as `allow`.

Audit hooks cannot be removed, so one hook is installed on first use and does nothing outside
a guarded scope. May import only the standard library.
"""

from __future__ import annotations

import contextlib
import contextvars
import ipaddress
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


class OutboundConnection(ConnectionError):
    """A re-run tried to reach the network outside `ctx.http`."""


@dataclass(slots=True)
class NetworkGuard:
    """One guarded scope: the loopback endpoints it allows and the attempts it refused."""

    allow: frozenset[tuple[str, int]] = frozenset()
    attempts: list[str] = field(default_factory=list)
    """Every refused connection or lookup, as `host:port`."""
    allowed: list[str] = field(default_factory=list)
    """Every connection let through (only ever an `allow`ed loopback endpoint)."""


_active: contextvars.ContextVar[NetworkGuard | None] = contextvars.ContextVar(
    "flux_network_guard", default=None
)
_installed = False


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def _endpoint(address: Any) -> tuple[str, int] | None:
    """`(host, port)` of an inet socket address; None for a Unix socket path."""
    if isinstance(address, tuple) and len(address) >= 2:
        return str(address[0]), int(address[1]) if isinstance(address[1], int) else 0
    return None


def _check(guard: NetworkGuard, host: str, port: int, lookup: bool) -> None:
    where = f"{host}:{port}"
    if is_loopback(host) and (lookup or (host, port) in guard.allow or _any_port(guard, host)):
        guard.allowed.append(where)
        return
    guard.attempts.append(where)
    raise OutboundConnection(f"made a network call outside ctx.http: {where}")


def _any_port(guard: NetworkGuard, host: str) -> bool:
    return (host, 0) in guard.allow


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if event not in ("socket.connect", "socket.getaddrinfo"):
        return
    guard = _active.get()
    if guard is None:
        return
    if event == "socket.connect":
        endpoint = _endpoint(args[1])
        if endpoint is not None:
            _check(guard, endpoint[0], endpoint[1], lookup=False)
        return
    host, port = args[0], args[1]
    if host is None:
        return
    text = host.decode() if isinstance(host, bytes) else str(host)
    _check(guard, text, port if isinstance(port, int) else 0, lookup=True)


def _install() -> None:
    global _installed
    if not _installed:
        sys.addaudithook(_hook)
        _installed = True


@contextlib.contextmanager
def no_network(allow: Iterable[tuple[str, int]] = ()) -> Iterator[NetworkGuard]:
    """Refuse outbound connections made inside this block (and the tasks it starts).

    `allow` names loopback endpoints that may still be reached, `(host, 0)` for any port of
    that host; a non-loopback endpoint is never allowed.
    """
    _install()
    guard = NetworkGuard(allow=frozenset(allow))
    token = _active.set(guard)
    try:
        yield guard
    finally:
        _active.reset(token)
