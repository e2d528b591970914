"""Per-workspace-folder settings (`flux.recorder`, `flux.window`, `flux.functionsDir`).

The client is asked with `workspace/configuration` (section `flux`, scoped to the folder), so
each folder of a multi-root workspace can point at its own recorder. A missing or malformed
value falls back to its default, and the problem is reported once rather than failing.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from flux_lsp.recorder.query import QueryError, parse_time

log = logging.getLogger("flux.lsp")

DEFAULT_WINDOW = "24h"


@dataclass(slots=True, frozen=True)
class FolderSettings:
    """What one workspace folder configured; None means "use the default"."""

    recorder: str | None = None
    window: str = DEFAULT_WINDOW
    window_seconds: float = 86400.0
    functions_dir: str | None = None
    problems: tuple[str, ...] = field(default=())


def window_seconds(text: str) -> float:
    """`24h`, `30m`, `7d` → seconds; raises QueryError for anything that is not a duration."""
    now = time.time()
    try:
        seconds = now - parse_time(text if text.startswith("-") else f"-{text}", now)
    except QueryError:
        seconds = 0.0
    if seconds <= 0:
        raise QueryError(f"bad window {text!r}: use a duration such as 30m, 24h or 7d")
    return seconds


def _text(raw: dict[str, Any], key: str, problems: list[str]) -> str | None:
    value = raw.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        problems.append(f"flux.{key} must be a string")
        return None
    return value


def parse_folder_settings(raw: object) -> FolderSettings:
    """Settings from the `flux` section the client returned (None or a dict)."""
    if not isinstance(raw, dict):
        return FolderSettings()
    problems: list[str] = []
    recorder = _text(raw, "recorder", problems)
    functions_dir = _text(raw, "functionsDir", problems)
    window = _text(raw, "window", problems) or DEFAULT_WINDOW
    try:
        seconds = window_seconds(window)
    except QueryError as exc:
        problems.append(f"flux.window: {exc}")
        window, seconds = DEFAULT_WINDOW, 86400.0
    return FolderSettings(
        recorder=recorder,
        window=window,
        window_seconds=seconds,
        functions_dir=functions_dir,
        problems=tuple(problems),
    )
