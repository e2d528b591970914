"""Request and response bodies as they are recorded (parsed JSON, or capped text) and back.

Shared by the executor (handler responses), the gateway (incoming requests), `ctx.http`
(outbound calls) and replay (rebuilt requests, recorded responses); it imports nothing of the
runtime, so any of them can import it.
"""

from __future__ import annotations

import json

from flux_lsp.model import JSON

BODY_CAP = 64 * 1024
"""The default of `[recorder] max_value`: bytes kept of a recorded body."""
CUT_MARK = "…[cut: "
HOP_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})
"""Headers of a recorded message that describe its original transfer, not its content: a
replayed message is re-encoded, so they are dropped (and the length set afresh)."""


def cut(text: str, total: int) -> str:
    """`text` (the part kept) marked as cut from `total` bytes."""
    return f"{text}{CUT_MARK}{total:,} bytes]"


def uncut(text: str) -> str:
    """The kept part of a text that `cut` marked (the text itself when it was not cut)."""
    return text.split(CUT_MARK, 1)[0]


def decode_body(raw: bytes, cap: int = BODY_CAP) -> JSON:
    """A body as JSON when it parses, else as text; over `cap` bytes, its first `cap` bytes
    as text, marked as cut (a large body is never parsed or stored whole)."""
    if not raw:
        return None
    if len(raw) > cap:
        return cut(raw[:cap].decode("utf-8", errors="replace"), len(raw))
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return raw.decode("utf-8", errors="replace")


def encode_body(body: JSON) -> bytes:
    """The bytes of a recorded body: JSON values as JSON, text as it was."""
    if body is None:
        return b""
    if isinstance(body, str):
        return body.encode("utf-8")
    return json.dumps(body, ensure_ascii=False).encode("utf-8")
