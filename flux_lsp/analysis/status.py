"""`StatusReport`: the recorder's health for `flux status` — where, how big, how much, problems.

JSON shape (`encode.to_json(report)`):

    {"location": ".flux/recorder.db" | "https://flux.example.com", "size_bytes": 18234,
     "size": "17.8 KB", "executions": 1204, "replays": 36, "executions_estimated": false,
     "schema_version": 1,
     "oldest": 1773130462.0 | null, "oldest_iso": "..." | null,
     "newest": 1773134062.0 | null, "newest_iso": "..." | null,
     "dropped": 0, "dropped_estimated": 0, "dropped_note": "≈ 39 lost when the writer was
     killed" | null, "recorded_by_writer": 1204, "problem": "..." | null,
     "health_updated_at_iso": "..." | null, "healthy": true,
     "retention": "keep 14d · failures 90d · max 5GB" | null, "pruned_before_iso": "..." | null,
     "export": {"endpoint": "http://…/v1/traces", "exported": 5120, "dropped": 0,
                "problem": "..." | null} | null,
     "database": "SQLite .flux/app.db" | "PostgreSQL db.internal:5432/shop" | null}

`database` is the app database (`ctx.db` and the job queue) of the local project, never with
a password; null when the status is a remote server's.

`executions` counts live traffic (HTTP requests and job runs); `replays` counts the replays
recorded beside it, kept apart so that replaying an incident does not look like traffic.
`executions_estimated` is true when `executions` is an estimate (a PostgreSQL recorder past
100,000 executions answers from its statistics instead of counting every row).
`healthy` is false when the writer reported a problem or dropped records. `dropped` adds
what the app could not hand over, what the writer could not write, and (`dropped_estimated`)
what was lost when the writer or the app was killed, estimated from the hand-off counts.
`export` is the OpenTelemetry export's counts (spans) when it is on; its drops do not make
the recorder unhealthy, they are shown beside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from flux_lsp.analysis.values import iso
from flux_lsp.analysis.values import size as byte_size
from flux_lsp.model import JSON
from flux_lsp.recorder.store import RecorderStats


@dataclass(slots=True)
class StatusReport:
    location: str
    size_bytes: int
    executions: int
    replays: int
    schema_version: int
    oldest: float | None
    newest: float | None
    dropped: int
    recorded_by_writer: int
    problem: str | None
    health_updated_at: float | None
    retention: str | None = None
    pruned_before: float | None = None
    export: dict[str, JSON] | None = None
    database: str | None = None
    dropped_estimated: int = 0
    """The part of `dropped` estimated when a process was killed (see `dropped_note`)."""
    dropped_note: str | None = None
    executions_estimated: bool = False

    derived: ClassVar[tuple[str, ...]] = (
        "size",
        "oldest_iso",
        "newest_iso",
        "health_updated_at_iso",
        "healthy",
        "pruned_before_iso",
    )

    @property
    def size(self) -> str:
        return byte_size(self.size_bytes)

    @property
    def oldest_iso(self) -> str | None:
        return iso(self.oldest)

    @property
    def newest_iso(self) -> str | None:
        return iso(self.newest)

    @property
    def health_updated_at_iso(self) -> str | None:
        return iso(self.health_updated_at)

    @property
    def pruned_before_iso(self) -> str | None:
        return iso(self.pruned_before)

    @property
    def healthy(self) -> bool:
        return self.problem is None and self.dropped == 0


def status_report(stats: RecorderStats, database: str | None = None) -> StatusReport:
    return StatusReport(
        location=stats.location,
        size_bytes=stats.size_bytes,
        executions=stats.executions - stats.replays,
        replays=stats.replays,
        schema_version=stats.schema_version,
        oldest=stats.oldest,
        newest=stats.newest,
        dropped=stats.dropped,
        recorded_by_writer=stats.recorded_by_writer,
        problem=stats.problem,
        health_updated_at=stats.health_updated_at,
        retention=stats.retention,
        pruned_before=stats.pruned_before,
        export=dict(stats.export) if stats.export else None,
        database=database,
        dropped_estimated=stats.dropped_estimated,
        dropped_note=stats.dropped_note,
        executions_estimated=stats.executions_estimated,
    )
