"""Request and response bodies as they are recorded: parsed JSON, or capped text.

Shared by the executor (handler responses), the gateway (incoming requests) and `ctx.http`
(outbound calls); it imports nothing of the runtime, so any of them can import it.
"""

from __future__ import annotations

import json

from flux_lsp.model import JSON

BODY_CAP = 64 * 1024


def decode_body(raw: bytes, cap: int = BODY_CAP) -> JSON:
    """A body as JSON when it parses, else as (capped) text."""
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        text = raw[:cap].decode("utf-8", errors="replace")
        return text + ("…" if len(raw) > cap else "")
