"""Shared pieces of the replay tests: recording the seed's incident, the fix, and guards.

`record_incident` drives the buggy example shop through its real gateway: two customers sign
up; cus_1 confirms and pays (200); cus_ABC's payment webhook arrives before the confirmation
that creates the subscription row (500: Row not found), then cus_ABC confirms. Their onboarding
jobs run on the app's real worker meanwhile. `no_network` fails any socket connect or name lookup.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from examples.shop_story import ROW_NOT_FOUND, fix_signup, fixed_signup, signed_payment
from flux_lsp.runtime.queue import list_jobs
from tests.harness import FluxApp

__all__ = ["ROW_NOT_FOUND", "fix_signup", "fixed_signup"]


@dataclass
class Incident:
    since: float
    until: float
    ids: dict[str, str] = field(default_factory=dict)
    """Request ids by step name: signup_1, webhook_1, webhook_ABC, ..."""


async def record_incident(shop: Path) -> Incident:
    """Record the seed's incident in `shop` (the live app database keeps its results)."""
    async with FluxApp(shop) as flux:
        r = await flux.client.post("/create_user", json={"email": "early@x.com", "name": "Early"})
        assert r.status_code == 201
        await asyncio.sleep(0.02)
        incident = Incident(since=time.time(), until=0.0)

        async def step(name: str, path: str, **kwargs: Any) -> int:
            response = await flux.client.post(path, **kwargs)
            incident.ids[name] = response.headers["x-flux-request-id"]
            return response.status_code

        async def webhook(name: str, customer_id: str) -> int:
            body, headers = signed_payment(customer_id)
            return await step(name, "/stripe_webhook", content=body, headers=headers)

        assert await step("signup_1", "/signup", json={"email": "a@x.com", "customer_id": "cus_1"})
        assert await step("confirm_1", "/confirm_email", json={"customer_id": "cus_1"}) == 200
        assert await webhook("webhook_1", "cus_1") == 200
        signup = {"email": "b@x.com", "customer_id": "cus_ABC", "name": "Bea"}
        assert await step("signup_ABC", "/signup", json=signup) == 201
        assert await webhook("webhook_ABC", "cus_ABC") == 500
        assert await step("confirm_ABC", "/confirm_email", json={"customer_id": "cus_ABC"}) == 200
        await jobs_settled(flux)
        incident.until = time.time() + 1
        flux.flush()
    return incident


async def jobs_settled(flux: FluxApp, timeout: float = 10.0) -> None:
    """Wait until the app's worker has run every queued job (successfully)."""
    deadline = time.monotonic() + timeout
    while True:
        jobs = await list_jobs(flux.runtime.database)
        if jobs and all(job.status == "done" for job in jobs):
            return
        assert time.monotonic() < deadline, jobs
        await asyncio.sleep(0.02)


class NetworkUsed(AssertionError):
    pass


@contextlib.contextmanager
def no_network() -> Iterator[list[str]]:
    """Fail every socket connect and name lookup in this process; yields the attempts."""
    attempts: list[str] = []
    real = (socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo)

    def refuse(what: str) -> Any:
        def guard(*args: Any, **kwargs: Any) -> Any:
            target = args[:2] if what == "getaddrinfo" else args[1]
            attempts.append(f"{what} {target!r}")
            raise NetworkUsed(f"network used during replay: {what} {target!r}")

        return guard

    socket.socket.connect = refuse("connect")  # type: ignore[method-assign]
    socket.socket.connect_ex = refuse("connect_ex")  # type: ignore[method-assign]
    socket.getaddrinfo = refuse("getaddrinfo")
    try:
        yield attempts
    finally:
        socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo = real  # type: ignore[method-assign]
        sys.modules["socket"].getaddrinfo = real[2]


def clone(project: Path, dest: Path) -> Path:
    """What a fresh checkout of `project` has: everything but `.flux/`."""
    target = dest / "clone"
    shutil.copytree(project, target, ignore=shutil.ignore_patterns(".flux", "__pycache__"))
    return target
