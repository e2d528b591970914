"""A gate a test's handler waits at, so the test knows the handler is inside it.

Instead of sleeping and hoping the handler has started, the handler (a function file the test
writes, run in-process by `FluxApp`) sets `entered` and waits for `release`; the test waits for
`entered`, does what must happen while the request is in flight, then sets `release`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field


@dataclass
class Gate:
    entered: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def wait_entered(self, timeout: float = 10.0) -> None:
        await asyncio.wait_for(self.entered.wait(), timeout)


GATES: dict[str, Gate] = {}

HANDLER_WAITS = """\
from tests.gate import GATES


async def wait_at_gate(name):
    gate = GATES[name]
    gate.entered.set()
    await gate.release.wait()
"""
"""Source a test's function file starts with; its handler calls `await wait_at_gate(name)`."""


def gate(name: str) -> Gate:
    """A fresh gate for this test (in the running event loop)."""
    GATES[name] = Gate()
    return GATES[name]
