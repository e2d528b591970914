"""`StatusReport`: the recorder's health for `flux status` — where, how big, how much, problems.

JSON shape (`StatusReport.to_dict()`):

    {"location": ".flux/recorder.db" | "https://flux.example.com", "size_bytes": 18234,
     "size": "17.8 KB", "executions": 1204, "replays": 36, "schema_version": 1,
     "oldest": 1773130462.0 | null, "oldest_iso": "..." | null,
     "newest": 1773134062.0 | null, "newest_iso": "..." | null,
     "dropped": 0, "recorded_by_writer": 1204, "problem": "..." | null,
     "health_updated_at_iso": "..." | null, "healthy": true,
     "retention": "keep 14d · failures 90d · max 5GB" | null, "pruned_before_iso": "..." | null,
     "export": {"endpoint": "http://…/v1/traces", "exported": 5120, "dropped": 0,
                "problem": "..." | null} | null}

`executions` counts live traffic (HTTP requests and job runs); `replays` counts the replays
recorded beside it, kept apart so that replaying an incident does not look like traffic.
`healthy` is false when the writer reported a problem or dropped records. `export` is the
OpenTelemetry export's counts (spans) when it is on; its drops do not make the recorder
unhealthy, they are shown beside it.
"""

from __future__ import annotations

from dataclasses import dataclass

from flux_lsp.analysis.values import iso, size
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

    @property
    def healthy(self) -> bool:
        return self.problem is None and self.dropped == 0

    def to_dict(self) -> dict[str, JSON]:
        return {
            "location": self.location,
            "size_bytes": self.size_bytes,
            "size": size(self.size_bytes),
            "executions": self.executions,
            "replays": self.replays,
            "schema_version": self.schema_version,
            "oldest": self.oldest,
            "oldest_iso": iso(self.oldest),
            "newest": self.newest,
            "newest_iso": iso(self.newest),
            "dropped": self.dropped,
            "recorded_by_writer": self.recorded_by_writer,
            "problem": self.problem,
            "health_updated_at_iso": iso(self.health_updated_at),
            "healthy": self.healthy,
            "retention": self.retention,
            "pruned_before_iso": iso(self.pruned_before),
            "export": self.export,
        }


def status_report(stats: RecorderStats) -> StatusReport:
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
    )
