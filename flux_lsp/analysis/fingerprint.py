"""Fingerprints of recorded failures, and grouping failures that share one.

Two failures are "the same problem" when they happened in the same function, raised the same
error type with the same message once ids, quoted values and numbers are normalised away, at
the same place in the code. The language server shows one diagnostic per fingerprint; the
CLI can use the same grouping for summaries. Pure: executions in, groups out.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from flux_lsp.analysis.execution_summary import outcome
from flux_lsp.model import Execution, Location

_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_UUID = re.compile(
    r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"
)
_PREFIXED_ID = re.compile(r"\b[a-z]{2,8}_(?=[A-Za-z0-9]*[A-Z0-9])[A-Za-z0-9]{3,}\b")
_HEX_ID = re.compile(r"\b(?=[0-9a-f]*[0-9])(?=[0-9a-f]*[a-f])[0-9a-f]{8,}\b")
_NUMBER = re.compile(r"(?<![A-Za-z_])-?\d+(?:\.\d+)?")
_SPACES = re.compile(r"\s+")

FINGERPRINT_LENGTH = 12


def normalise_message(message: str) -> str:
    """`Row not found: subscriptions WHERE customer_id = 'cus_ABC'` → `... = '…'`.

    Quoted values, UUIDs, prefixed ids (`cus_ABC`, `ord_3f9a`), hex ids and numbers are
    replaced by placeholders so that the same failure with different data groups together.
    """
    text = _QUOTED.sub("'…'", message)
    text = _UUID.sub("<id>", text)
    text = _PREFIXED_ID.sub("<id>", text)
    text = _HEX_ID.sub("<id>", text)
    text = _NUMBER.sub("<n>", text)
    return _SPACES.sub(" ", text).strip()


def location_key(location: Location | None) -> str:
    """The place part of a fingerprint: file, function and the failing source line's text.

    The source text rather than the line number keeps a failure's fingerprint stable when
    lines are added above it between deployments.
    """
    if location is None:
        return "?"
    source = (location.source_line or "").strip()
    return f"{location.file}:{location.function or ''}:{source or location.line}"


def fingerprint(execution: Execution) -> str:
    """12 hex digits identifying the failure's kind; executions without an error get `""`."""
    error = execution.error
    if error is None:
        return ""
    parts = (
        execution.function,
        error.type,
        normalise_message(error.message),
        location_key(error.location),
    )
    return hashlib.sha1("\x1f".join(parts).encode()).hexdigest()[:FINGERPRINT_LENGTH]


@dataclass(slots=True)
class FailureGroup:
    """Recorded failures sharing one fingerprint, newest first."""

    fingerprint: str
    executions: list[Execution] = field(default_factory=list)

    @property
    def latest(self) -> Execution:
        return self.executions[0]

    @property
    def count(self) -> int:
        return len(self.executions)

    @property
    def ids(self) -> list[str]:
        return [e.id for e in self.executions]

    @property
    def severity(self) -> str:
        """`error` when any execution in the group is a 5xx or failed job, else `warning`."""
        return "error" if any(e.failed for e in self.executions) else "warning"

    @property
    def location(self) -> Location | None:
        error = self.latest.error
        return error.location if error else None


def group_failures(executions: Iterable[Execution]) -> list[FailureGroup]:
    """Failures (5xx, failed jobs, 4xx) with an error, grouped by fingerprint.

    Groups come out newest-latest first; each group's executions keep newest first order.
    Successful executions, executions without an error and replays are left out.
    """
    groups: dict[str, FailureGroup] = {}
    ordered = sorted(executions, key=lambda e: e.started_at, reverse=True)
    for execution in ordered:
        if execution.kind == "replay" or execution.error is None:
            continue
        if outcome(execution) == "ok":
            continue
        key = fingerprint(execution)
        groups.setdefault(key, FailureGroup(key)).executions.append(execution)
    return list(groups.values())


def latest_replay_verdicts(
    groups: Iterable[FailureGroup], replays: Iterable[Execution]
) -> dict[str, Execution]:
    """For each group, its latest replay (kind `replay`, parent one of the group's ids)."""
    by_parent: dict[str, Execution] = {}
    for replay in replays:
        if replay.kind != "replay" or replay.parent_id is None:
            continue
        seen = by_parent.get(replay.parent_id)
        if seen is None or replay.started_at > seen.started_at:
            by_parent[replay.parent_id] = replay
    out: dict[str, Execution] = {}
    for group in groups:
        candidates = [by_parent[i] for i in group.ids if i in by_parent]
        if candidates:
            out[group.fingerprint] = max(candidates, key=lambda e: e.started_at)
    return out


def replay_passed(replay: Execution) -> bool:
    """A replay passed when it neither failed nor answered 4xx."""
    return outcome(replay) == "ok"
