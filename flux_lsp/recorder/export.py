"""OTLP/HTTP export from the recorder writer process: batched, retried, dropped and counted.

`OtlpExporter` runs in the writer process, never on the request path: the writer offers each
message's records after writing them (a list append), and the exporter's own thread turns them
into OTLP protobuf (`recorder.otlp`) and posts them to the collector with httpx
(`Content-Type: application/x-protobuf`). A batch that fails (connection refused, timeout,
429 or 5xx) is retried with exponential backoff; after the last attempt its spans are dropped
and counted, as are records offered while the queue is full, so a collector that is down costs
the app nothing and `flux status` says what was lost. `ExportTarget` is where to send, read
from `[telemetry]` (or the standard OTEL_EXPORTER_OTLP_* variables) by `export_target`. Imports
recorder.otlp and settings.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import httpx
import orjson

from flux_lsp.recorder.otlp import export_request, exported
from flux_lsp.settings import TelemetrySection

BATCH_RECORDS = 256
"""The most executions one export request carries."""
QUEUE_RECORDS = 20_000
"""Records waiting for export beyond this are dropped (and counted)."""
ATTEMPTS = 4
BACKOFF_SECONDS = 0.25
"""The first retry's delay; each next one doubles it."""
TIMEOUT_SECONDS = 5.0
GATHER_SECONDS = 0.2
"""How long the export thread lets records gather into a batch."""
RETRYABLE = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class ExportTarget:
    """Where spans go: the collector's traces URL, the headers it wants, the service name."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    service_name: str = "flux"


def parse_headers(text: str | None) -> dict[str, str]:
    """`key1=value1,key2=value2` (values percent-encoded), as OTEL_EXPORTER_OTLP_HEADERS."""
    headers: dict[str, str] = {}
    for item in (text or "").split(","):
        key, sep, value = item.partition("=")
        if sep and key.strip():
            headers[key.strip().lower()] = unquote(value.strip())
    return headers


def export_target(telemetry: TelemetrySection) -> ExportTarget | None:
    """The target `[telemetry]` names: its traces endpoint, or the base endpoint's
    `/v1/traces`; None when neither is set (export off)."""
    url = telemetry.traces_endpoint
    if not url and telemetry.otlp_endpoint:
        url = telemetry.otlp_endpoint.rstrip("/") + "/v1/traces"
    if not url:
        return None
    return ExportTarget(url, parse_headers(telemetry.headers), telemetry.service_name)


class OtlpExporter:
    """Sends recorded executions to an OTLP/HTTP collector from a thread of its own."""

    def __init__(
        self,
        target: ExportTarget,
        *,
        version: str = "",
        attempts: int = ATTEMPTS,
        backoff: float = BACKOFF_SECONDS,
        queue_records: int = QUEUE_RECORDS,
    ) -> None:
        self.url = target.url
        self.service_name = target.service_name
        self.version = version
        self.attempts = attempts
        self.backoff = backoff
        self.queue_records = queue_records
        self.exported = 0
        """Spans the collector accepted."""
        self.dropped = 0
        """Spans lost: the queue was full, or the collector refused or could not be reached."""
        self.problem: str | None = None
        self._queue: deque[bytes] = deque()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._busy = False
        self._client = httpx.Client(
            headers={"content-type": "application/x-protobuf", **target.headers},
            timeout=TIMEOUT_SECONDS,
            # Certificates are loaded only for an https collector: for a plain http one (a
            # local OpenTelemetry Collector), loading them cost the writer's start 35-55 ms.
            verify=target.url.lower().startswith("https:"),
        )
        self._thread = threading.Thread(target=self._run, name="flux-otlp", daemon=True)
        self._thread.start()

    # -- the writer's side: never waits --------------------------------------------------

    def offer(self, records: list[bytes]) -> None:
        """Queue records (wire form) for export; what does not fit is dropped and counted."""
        with self._lock:
            room = self.queue_records - len(self._queue)
            if room < len(records):
                lost = records[max(room, 0) :]
                records = records[: max(room, 0)]
                self.dropped += sum(_span_count(r) for r in lost)
                self.problem = "OTLP export queue full: spans dropped"
            self._queue.extend(records)
        if len(self._queue) >= BATCH_RECORDS:
            self._wake.set()

    def counts(self) -> dict[str, Any]:
        return {
            "endpoint": self.url,
            "exported": self.exported,
            "dropped": self.dropped,
            "problem": self.problem,
        }

    # -- the export thread ---------------------------------------------------------------

    def _take(self) -> list[bytes]:
        with self._lock:
            n = min(BATCH_RECORDS, len(self._queue))
            batch = [self._queue.popleft() for _ in range(n)]
            self._busy = bool(batch)
            return batch

    def _run(self) -> None:
        while True:
            self._wake.wait(GATHER_SECONDS)
            self._wake.clear()
            closing = self._closing.is_set()
            while batch := self._take():
                self._export(batch)
                with self._lock:
                    self._busy = False
            if closing:
                return

    def _export(self, batch: list[bytes]) -> None:
        records = [r for r in (orjson.loads(b) for b in batch) if exported(r)]
        if not records:
            return
        request, spans = export_request(records, self.service_name, self.version)
        body = request.SerializeToString()
        delay = self.backoff
        for attempt in range(1, self.attempts + 1):
            problem = self._post(body)
            if problem is None:
                self.exported += spans
                self.problem = None
                return
            if problem.startswith("!") or attempt == self.attempts or self._closing.is_set():
                self.dropped += spans
                self.problem = f"OTLP export to {self.url} failed: {problem.lstrip('!')}"
                return
            time.sleep(delay)
            delay *= 2

    def _post(self, body: bytes) -> str | None:
        """None when accepted; else what went wrong (`!` first when retrying cannot help)."""
        try:
            response = self._client.post(self.url, content=body)
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if response.status_code < 300:
            return None
        reason = f"HTTP {response.status_code}"
        return reason if response.status_code in RETRYABLE else "!" + reason

    # -- control -------------------------------------------------------------------------

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued record was exported or dropped."""
        deadline = time.monotonic() + timeout
        self._wake.set()
        while True:
            with self._lock:
                if not self._queue and not self._busy:
                    return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
            self._wake.set()

    def close(self, timeout: float = 10.0) -> None:
        """Export what is queued (for up to `timeout` seconds), then stop."""
        self.flush(timeout)
        self._closing.set()
        self._wake.set()
        self._thread.join(timeout=timeout)
        with self._lock:
            left = list(self._queue)
            self._queue.clear()
        self.dropped += sum(_span_count(r) for r in left)
        self._client.close()


def _span_count(record: bytes) -> int:
    try:
        data = orjson.loads(record)
    except orjson.JSONDecodeError:
        return 0
    return len(data.get("spans") or []) if exported(data) else 0
