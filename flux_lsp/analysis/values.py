"""Short text forms of recorded values, durations and delays, shared by every report.

Reports carry raw JSON values for `--json` and these compact texts for people, so the terminal,
the editor's Markdown and the webview all show `{ customer_id: 'cus_ABC', amount: 4900 }`,
`32ms` and `4.2 s later` the same way. Pure functions; imports nothing from Flux.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

MAX_TEXT = 120
MAX_ITEMS = 6


def compact(value: Any, limit: int = MAX_TEXT) -> str:
    """A one-line, seed-style form of a JSON value: `{ tenant_id: 't_123', n: 2 }`."""
    text = _compact(value, depth=0)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _compact(value: Any, depth: int) -> str:
    if isinstance(value, dict):
        if not value:
            return "{}"
        if depth >= 2:
            return "{…}"
        items = [f"{k}: {_compact(v, depth + 1)}" for k, v in list(value.items())[:MAX_ITEMS]]
        if len(value) > MAX_ITEMS:
            items.append("…")
        return "{ " + ", ".join(items) + " }"
    if isinstance(value, list):
        if not value:
            return "[]"
        if depth >= 2:
            return f"[{len(value)} items]"
        items = [_compact(v, depth + 1) for v in value[:MAX_ITEMS]]
        if len(value) > MAX_ITEMS:
            items.append(f"… {len(value) - MAX_ITEMS} more")
        return "[" + ", ".join(items) + "]"
    return scalar(value)


def scalar(value: Any) -> str:
    """A scalar as the seed writes it inside braces: strings quoted, `null` for None."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        short = value if len(value) <= 60 else value[:59] + "…"
        return f"'{short}'"
    return str(value)


def plain(value: Any) -> str:
    """A value as the seed writes it after a label: `cus_ABC`, `4900` (no quotes)."""
    if isinstance(value, str):
        return value if len(value) <= 80 else value[:79] + "…"
    return compact(value)


def duration(ms: float) -> str:
    """`0.4ms`, `32ms`, `1.25s`, `2m05s`."""
    if ms < 1:
        return f"{ms:.1f}ms"
    if ms < 1000:
        return f"{ms:.0f}ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.2f}s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest:02d}s"


def delay(seconds: float) -> str:
    """How far apart two moments are: `850 ms`, `4.2 s`, `3 min`, `2 h`, `1 day`."""
    seconds = abs(seconds)
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h"
    days = seconds / 86400
    return f"{days:.0f} day" + ("" if round(days) == 1 else "s")


def clock(timestamp: float) -> str:
    """`09:14:22` in local time, as `flux tail` prints it."""
    return _dt.datetime.fromtimestamp(timestamp).strftime("%H:%M:%S")


def moment(timestamp: float) -> str:
    """`2026-03-10 09:14` in local time, as `flux state history` prints it."""
    return _dt.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M")


def iso(timestamp: float | None) -> str | None:
    """An ISO 8601 local time with offset, for JSON documents."""
    if timestamp is None:
        return None
    return _dt.datetime.fromtimestamp(timestamp).astimezone().isoformat(timespec="milliseconds")


def size(num_bytes: int) -> str:
    """`812 B`, `4.2 KB`, `18.3 MB`."""
    value = float(num_bytes)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"
