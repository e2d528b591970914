"""The ctx services every runtime gets by default, beyond `ctx.db`.

Each entry is a factory `(runtime, trace) -> {name: service}` called once per execution.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flux_lsp.runtime.executor import ServiceFactory


def default_service_factories() -> list[ServiceFactory]:
    """Factories for `ctx.email`, `ctx.stripe`, `ctx.queue` and `ctx.http`."""
    return []
