"""What a caller can ask the recorder for: execution filters, time windows, and their parsing.

`ExecutionQuery` is the one execution filter every `Store` accepts (`MutationQuery` the one
mutation filter). `parse_filters` turns the
command line's `--filter status=5xx` strings into it, and `parse_time` / `parse_window` turn
`15m`, `1h30m`, `1w`, `09:00`, ISO date-times and `09:00..09:20` into timestamps, so the CLI,
the language server and the remote API all read them the same way.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace

from flux_lsp.model import Execution

FILTER_KEYS = ("path", "function", "status", "kind", "log~", "trace")
"""`--filter` keys; `log~=text` matches executions whose printed or logged output contains
`text` (any case); `trace=<id>` every execution of one W3C trace."""
STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")


class QueryError(ValueError):
    """A filter, time or window the user wrote that Flux cannot read."""


@dataclass(slots=True, frozen=True)
class MutationQuery:
    """Which mutations to list, oldest first. Every field narrows; None means any."""

    table: str | None = None
    pk: str | None = None
    execution_id: str | None = None
    since: float | None = None
    until: float | None = None
    limit: int = 1000
    creations: bool = False
    """Only the writes that can have made a row exist: inserts, updates and replaces that
    recorded the row as it was after."""


@dataclass(slots=True, frozen=True)
class ExecutionQuery:
    """Which executions to list. Every field narrows; None means any."""

    function: str | None = None
    path: str | None = None
    status: str | None = None
    """Exact (`500`, `done`), a class (`5xx`, `4xx`), or `failed` (5xx and failed jobs)."""
    kind: str | None = None
    exclude_kind: str | None = None
    """A kind left out (`flux tail` leaves out `replay` unless `kind` asks for it)."""
    since: float | None = None
    until: float | None = None
    parent_id: str | None = None
    error_file: str | None = None
    log: str | None = None
    """Text the execution's output (print, logging) contains, in any case."""
    trace: str | None = None
    """A W3C trace id (32 hex digits): every execution of that trace."""
    limit: int | None = 100
    newest_first: bool = True

    def with_(self, **changes: object) -> ExecutionQuery:
        return replace(self, **changes)  # type: ignore[arg-type]

    def matches(self, execution: Execution) -> bool:
        """Whether `execution` passes the filter fields (function, path, kind, parent_id,
        error_file, status), as a Store's query reads them, for where SQL is not used. The
        time window, limit and order are not checked: they pick which executions are read."""
        checks = (
            (self.function, execution.function),
            (self.path, execution.path),
            (self.kind, execution.kind),
            (self.parent_id, execution.parent_id),
            (self.trace, execution.trace_id),
        )
        if any(wanted is not None and wanted != actual for wanted, actual in checks):
            return False
        if self.exclude_kind is not None and execution.kind == self.exclude_kind:
            return False
        if self.error_file is not None:
            location = execution.error.location if execution.error else None
            if location is None or location.file != self.error_file:
                return False
        if self.log is not None and not logs_contain(execution, self.log):
            return False
        return self.status is None or status_matches(execution.status, self.status)


def logs_contain(execution: Execution, text: str) -> bool:
    """Whether a line the execution printed or logged contains `text`, in any case."""
    wanted = text.casefold()
    return any(wanted in entry.message.casefold() for entry in execution.logs)


def split_filter(text: str, expected: str) -> tuple[str, str]:
    """`status=500` → (`status`, `500`); a `QueryError` saying what was `expected` otherwise."""
    key, sep, value = text.partition("=")
    key, value = key.strip(), value.strip()
    if not sep or not value:
        raise QueryError(f"bad filter {text!r}: expected {expected}")
    return key, value


def parse_filters(filters: Iterable[str], base: ExecutionQuery | None = None) -> ExecutionQuery:
    """`["path=/stripe_webhook", "status=500"]` → an ExecutionQuery (repeated filters AND)."""
    query = base or ExecutionQuery()
    for text in filters:
        key, value = split_filter(text, "KEY=VALUE, e.g. status=500")
        if key not in FILTER_KEYS:
            raise QueryError(f"unknown filter key {key!r}: use one of {', '.join(FILTER_KEYS)}")
        if key == "status":
            ok = value in ("done", "failed") or value in STATUS_CLASSES or value.isdigit()
            if not ok:
                raise QueryError(
                    f"bad status {value!r}: use a code (500), a class (5xx), done or failed"
                )
        if key == "kind":
            check_kind(value)
        if key == "trace":
            value = value.lower()
            if not _TRACE_ID.match(value):
                raise QueryError(f"bad trace id {value!r}: expected 32 hex digits")
        if key == "path" and not value.startswith("/"):
            value = "/" + value
        if key == "log~":
            key = "log"
        query = query.with_(**{key: value})
    return query


KINDS = ("http", "job", "replay")
_TRACE_ID = re.compile(r"^[0-9a-f]{32}$")


def check_kind(value: str) -> str:
    if value not in KINDS:
        raise QueryError(f"bad kind {value!r}: use http, job or replay")
    return value


def live_only(query: ExecutionQuery) -> ExecutionQuery:
    """`query` without replays, unless it asks for a kind itself (`--filter kind=replay`)."""
    return query if query.kind is not None else query.with_(exclude_kind="replay")


_DURATION = re.compile(r"^-?((?:\d+(?:\.\d+)?\s*(?:w|d|h|min|m|sec|s)\s*)+)$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(w|d|h|min|m|sec|s)")
_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")
_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


MAX_WRAP_SECONDS = 12 * 3600
"""The longest window of clock times read as crossing midnight (`23:50..00:10`)."""


def parse_duration(text: str) -> float | None:
    """`15m`, `1h30m`, `1w`, `90s` (a leading `-` allowed) in seconds; None if not one."""
    match = _DURATION.match(text.strip())
    if match is None:
        return None
    return sum(float(n) * _UNITS[unit] for n, unit in _DURATION_PART.findall(match.group(1)))


def _clock(text: str, value: str, now: float) -> float | None:
    """A bare clock time's latest past occurrence: `23:59` at 09:00 is yesterday's."""
    match = _CLOCK.match(value)
    if match is None:
        return None
    hour, minute, second = int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)
    if hour > 23 or minute > 59 or second > 59:
        raise QueryError(f"bad time {text!r}: no such time of day")
    at = _dt.datetime.fromtimestamp(now).replace(
        hour=hour, minute=minute, second=second, microsecond=0
    )
    if at.timestamp() > now:
        at -= _dt.timedelta(days=1)
    return at.timestamp()


def parse_time(text: str, now: float | None = None) -> float:
    """A point in time: `now`, `15m` / `1h30m` / `-1w` (ago), `09:00` (its latest past
    occurrence, local time), or ISO 8601."""
    now = _dt.datetime.now().timestamp() if now is None else now
    value = text.strip()
    if value == "now":
        return now
    ago = parse_duration(value)
    if ago is not None:
        return now - ago
    at = _clock(text, value, now)
    if at is not None:
        return at
    try:
        parsed = _dt.datetime.fromisoformat(value)
    except ValueError:
        raise QueryError(
            f"bad time {text!r}: use 15m, 1h30m, 1w, 09:00, now, or an ISO date-time"
        ) from None
    return parsed.timestamp()


def parse_window(text: str, now: float | None = None) -> tuple[float, float]:
    """`09:00..09:20`, `23:50..00:10` (across midnight), `-30m..now`, or two ISO date-times
    joined by `..`. Clock times are their latest past occurrences, except that a clock-time
    end falling before the start is the one that follows it (`09:00..09:20` at 09:10 ends
    at 09:20 today), when that makes a window of at most 12 hours; `09:20..09:00` is
    refused as backwards."""
    start_text, sep, end_text = text.partition("..")
    if not sep or not start_text.strip() or not end_text.strip():
        raise QueryError(f"bad window {text!r}: expected FROM..TO, e.g. 09:00..09:20 or -30m..now")
    start, end = parse_time(start_text, now), parse_time(end_text, now)
    if end <= start and _CLOCK.match(end_text.strip()):
        wrapped = (_dt.datetime.fromtimestamp(end) + _dt.timedelta(days=1)).timestamp()
        if wrapped - start <= MAX_WRAP_SECONDS:  # longer: a window written backwards
            end = wrapped
    if end <= start:
        raise QueryError(f"bad window {text!r}: the end is not after the start")
    return start, end


def status_matches(status: str, wanted: str) -> bool:
    """Whether a recorded status matches a status filter (used where SQL is not)."""
    if wanted == "failed":
        return status == "failed" or (status.isdigit() and int(status) >= 500)
    if wanted in STATUS_CLASSES:
        return status.isdigit() and status[0] == wanted[0]
    return status == wanted
