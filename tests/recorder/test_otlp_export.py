"""OpenTelemetry export and W3C trace context, end to end over real loopback sockets.

An in-process OTLP/HTTP receiver (a threaded HTTP server in the test) decodes what the
recorder writer process posts with opentelemetry-proto's `ExportTraceServiceRequest`. The
shop story runs through the real gateway with `[telemetry] otlp_endpoint` pointing at it: the
spans arrive with their parent/child structure, names and semantic-convention attributes, the
failing span with status error and an exception event, and no planted secret in the bytes. A
request carrying a `traceparent` keeps its trace id, and a downstream loopback server called
through `ctx.http` receives a `traceparent` with that trace id and the calling span's id. With
the collector down, requests are still served and the dropped spans are counted and shown.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from examples.shop_story import signed_payment
from flux_lsp.analysis.status import status_report
from flux_lsp.encode import to_json
from flux_lsp.model import otel_span_id
from flux_lsp.recorder.sqlite_store import SQLiteStore
from tests.harness import FluxApp, free_port, write_function

pytestmark = pytest.mark.usefixtures("no_env_secret")

PASSWORD = "hunter2-otlp-planted"
BEARER = "planted-otlp-bearer"
QUERY_TOKEN = "planted-otlp-query-token"
CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"


class _Recorder(BaseHTTPRequestHandler):
    """Stores each POST's path, headers and body on the server; answers 200 (or `status`)."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        self.server.received.append((self.path, dict(self.headers), body))  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.end_headers()

    def do_GET(self) -> None:
        self.server.received.append((self.path, dict(self.headers), b""))  # type: ignore[attr-defined]
        payload = b'{"ok": true}'
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        return None


class Loopback:
    """A real HTTP server on 127.0.0.1 in a thread: the OTLP collector, or a downstream API."""

    def __init__(self) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
        self.server.received = []  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def received(self) -> list[tuple[str, dict[str, str], bytes]]:
        return self.server.received  # type: ignore[attr-defined,no-any-return]

    def spans(self) -> list[Span]:
        out: list[Span] = []
        for path, headers, body in self.received:
            assert path == "/v1/traces"
            assert headers["content-type"] == "application/x-protobuf"
            request = ExportTraceServiceRequest.FromString(body)
            for resource_spans in request.resource_spans:
                service = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
                assert service["service.name"] == "shop-api"
                for scope in resource_spans.scope_spans:
                    out.extend(scope.spans)
        return out

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def collector() -> Iterator[Loopback]:
    server = Loopback()
    yield server
    server.close()


@pytest.fixture
def downstream() -> Iterator[Loopback]:
    server = Loopback()
    yield server
    server.close()


def _with_telemetry(shop: Path, endpoint: str) -> None:
    with (shop / "flux.toml").open("a") as f:
        f.write(f'\n[telemetry]\notlp_endpoint = "{endpoint}"\nservice_name = "shop-api"\n')


def _attrs(span: Span) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kv in span.attributes:
        field = kv.value.WhichOneof("value")
        out[kv.key] = getattr(kv.value, field) if field else None
    return out


def _event_attrs(event: Span.Event) -> dict[str, Any]:
    return {kv.key: kv.value.string_value or kv.value.int_value for kv in event.attributes}


def _wait_for(check: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


CALLOUT = """\
async def handler(req, ctx):
    url = (await req.json())["url"]
    r = await ctx.http.get(url, params={"token": "QUERY_TOKEN"})
    return {"downstream": r.status_code}
""".replace("QUERY_TOKEN", QUERY_TOKEN)


async def test_the_shop_story_is_exported_as_otlp_spans(
    shop: Path, collector: Loopback, downstream: Loopback
) -> None:
    _with_telemetry(shop, collector.url)
    write_function(shop, "callout", CALLOUT)
    async with FluxApp(shop) as flux:

        async def post(path: str, **kwargs: Any) -> str:
            r = await flux.client.post(path, **kwargs)
            assert r.status_code < 600
            return r.headers["x-flux-request-id"]

        signup = await post("/signup", json={"email": "c@d.com", "customer_id": "cus_ABC"})
        body, headers = signed_payment("cus_ABC")
        failed = await post("/stripe_webhook", content=body, headers=headers)
        await post("/confirm_email", json={"customer_id": "cus_ABC"})
        await post(
            "/create_user",
            json={"email": "a@b.com", "name": "A", "password": PASSWORD},
            headers={"authorization": f"Bearer {BEARER}"},
        )
        traced = await post(
            "/callout",
            json={"url": downstream.url + "/api"},
            headers={"traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01", "tracestate": "k=v"},
        )
        store = await flux.store()
        try:
            for _ in range(200):  # the onboarding job the signup enqueued
                jobs = [e for e in await store.executions(_jobs()) if e.parent_id == signup]
                if jobs:
                    break
                await asyncio.sleep(0.05)
            [job] = jobs
            recorded = {e.id: e for e in [await store.get(i) for i in (failed, traced, signup)]}
        finally:
            await store.close()
        flux.flush()
        _wait_for(lambda: len({s.trace_id for s in collector.spans()}) >= 6)
        _wait_for(lambda: any(s.name == "process send_onboarding_email" for s in collector.spans()))

    spans = collector.spans()
    by_id = {s.span_id.hex(): s for s in spans}

    # The failing webhook: root, verification, function, the update that raised.
    webhook = recorded[failed]
    mine = [s for s in spans if s.trace_id.hex() == webhook.trace_id]
    root = next(s for s in mine if s.name == "POST /stripe_webhook")
    assert root.kind == Span.SPAN_KIND_SERVER and root.parent_span_id == b""
    assert root.span_id.hex() == otel_span_id(failed, 0)
    attrs = _attrs(root)
    assert attrs["http.request.method"] == "POST" and attrs["url.path"] == "/stripe_webhook"
    assert attrs["http.response.status_code"] == 500 and attrs["faas.trigger"] == "http"
    assert root.status.code == Status.STATUS_CODE_ERROR
    function = next(s for s in mine if s.name == "stripe_webhook")
    assert function.parent_span_id == root.span_id
    update = next(s for s in mine if s.name == "db.update subscriptions")
    assert update.parent_span_id == function.span_id
    attrs = _attrs(update)
    assert attrs["db.system"] == "sqlite" and attrs["db.collection.name"] == "subscriptions"
    assert attrs["db.operation.name"] == "update"
    assert attrs["code.filepath"] == "functions/stripe_webhook.py"
    assert isinstance(attrs["code.lineno"], int)
    assert update.status.code == Status.STATUS_CODE_ERROR
    [event] = update.events
    assert event.name == "exception"
    ev = _event_attrs(event)
    assert ev["exception.type"] == "RowNotFound"
    assert ev["exception.message"] == "Row not found: subscriptions WHERE customer_id = 'cus_ABC'"
    assert not function.events  # the event is on the span that raised
    for span in mine:
        assert span.end_time_unix_nano >= span.start_time_unix_nano > 0
        assert span.parent_span_id == b"" or span.parent_span_id.hex() in by_id

    # The request that came with a traceparent kept its trace, under the caller's span ...
    callout = recorded[traced]
    assert (callout.trace_id, callout.trace_parent) == (CALLER_TRACE, CALLER_SPAN)
    root = next(s for s in spans if s.name == "POST /callout")
    assert root.trace_id.hex() == CALLER_TRACE and root.parent_span_id.hex() == CALLER_SPAN
    assert root.trace_state == "k=v"
    # ... and passed it on to the downstream server, naming the calling span.
    [http_span] = [s for s in callout.spans if s.name == "http.request"]
    call_id = otel_span_id(traced, http_span.id)
    [(_path, headers, _)] = downstream.received
    assert headers["traceparent"] == f"00-{CALLER_TRACE}-{call_id}-01"
    assert headers["tracestate"] == "k=v"
    exported_call = by_id[call_id]
    assert exported_call.kind == Span.SPAN_KIND_CLIENT and exported_call.name == "http.request"
    assert exported_call.trace_id.hex() == CALLER_TRACE

    # The job links to the signup's span that enqueued it, in the signup's trace.
    signup_trace = recorded[signup].trace_id
    [enqueue] = [s for s in recorded[signup].spans if s.name == "queue.enqueue"]
    enqueue_id = otel_span_id(signup, enqueue.id)
    assert by_id[enqueue_id].trace_id.hex() == signup_trace
    job_root = next(s for s in spans if s.name == "process send_onboarding_email")
    assert job_root.kind == Span.SPAN_KIND_CONSUMER
    assert _attrs(job_root)["faas.trigger"] == "pubsub"
    assert _attrs(job_root)["messaging.destination.name"] == "send_onboarding_email"
    [link] = job_root.links
    assert link.trace_id.hex() == signup_trace and link.span_id.hex() == enqueue_id
    assert job.trace_link == {"trace_id": signup_trace, "span_id": enqueue_id}

    # Nothing redacted left the writer.
    blob = b"".join(body for _, _, body in collector.received)
    for secret in (PASSWORD, BEARER, QUERY_TOKEN, "whsec_flux_example_secret"):
        assert secret.encode() not in blob, secret
    assert b"token=%5Bredacted%5D" in blob  # the call's url.full, its query token redacted

    # flux tail --filter trace=<id> finds the trace's executions; flux status shows the export.
    out = _flux("tail", "--filter", f"trace={CALLER_TRACE}", "--json", "-p", str(shop))
    assert [line["id"] for line in json.loads(out)["executions"]] == [traced]
    status = json.loads(_flux("status", "--json", "-p", str(shop)))
    assert status["export"]["exported"] == len(spans) and status["export"]["dropped"] == 0
    assert status["export"]["endpoint"] == collector.url + "/v1/traces"


def _jobs() -> Any:
    from flux_lsp.recorder.query import ExecutionQuery

    return ExecutionQuery(kind="job")


def _flux(*args: str) -> str:
    r = subprocess.run(
        [sys.executable, "-m", "flux_lsp", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    return r.stdout


ENQUEUE_LATER = """\
async def handler(req, ctx):
    job = await ctx.queue.enqueue("later", await req.json(), delay=DELAY)
    return {"job": job.id}
"""
LATER = """\
import os
from pathlib import Path


async def handler(job, ctx):
    Path(job.data["ran_by"]).write_text(str(os.getpid()))
"""
JOB_DELAY = 4.0
"""Long enough for the enqueuing process to stop before the job is due."""


def test_a_job_run_by_another_process_links_to_the_enqueuing_trace(
    shop: Path, collector: Loopback, backend: str
) -> None:
    """One `flux serve` enqueues under a caller's `traceparent` and stops; a second one, on the
    same database, runs the job: its root span links to the first one's `queue.enqueue` span in
    the caller's trace, restored from the job's row."""
    from tests.serve.helpers import ServeProcess

    _with_telemetry(shop, collector.url)
    write_function(shop, "enqueue_later", ENQUEUE_LATER.replace("DELAY", str(JOB_DELAY)))
    write_function(shop, "later", LATER)
    ran_by = shop / "ran-by"
    with ServeProcess(shop) as first:
        assert first.process is not None
        enqueuer_pid = first.process.pid
        with first.client() as http:
            r = http.post(
                "/enqueue_later",
                json={"ran_by": str(ran_by)},
                headers={"traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01", "tracestate": "k=v"},
            )
        assert r.status_code == 200, r.text
    _wait_for(lambda: any(s.name == "queue.enqueue" for s in collector.spans()))
    [enqueue] = [s for s in collector.spans() if s.name == "queue.enqueue"]
    assert enqueue.trace_id.hex() == CALLER_TRACE

    with ServeProcess(shop) as second:
        assert second.process is not None
        runner_pid = second.process.pid
        _wait_for(
            lambda: any(s.name == "process later" for s in collector.spans()),
            timeout=JOB_DELAY + 30,
        )
    [job_root] = [s for s in collector.spans() if s.name == "process later"]
    [link] = job_root.links
    assert link.trace_id.hex() == CALLER_TRACE
    assert link.span_id == enqueue.span_id and link.trace_state == "k=v"

    # The second process ran it.
    assert int(ran_by.read_text()) == runner_pid != enqueuer_pid


async def test_collector_down_requests_are_served_and_drops_counted(shop: Path) -> None:
    _with_telemetry(shop, f"http://127.0.0.1:{free_port()}")  # nothing listens there
    async with FluxApp(shop) as flux:
        started = time.perf_counter()
        for n in range(20):
            r = await flux.client.post("/create_user", json={"email": f"u{n}@x.com"})
            assert r.status_code == 201
        assert time.perf_counter() - started < 5  # the export never sits on the request path
        flux.flush()
    store = await SQLiteStore.open(flux.project.recorder_path)
    try:
        report = status_report(await store.stats())
    finally:
        await store.close()
    assert report.executions == 20 and report.dropped == 0  # the recorder kept everything
    assert report.export is not None
    assert report.export["exported"] == 0 and report.export["dropped"] >= 20 * 3
    assert "OTLP export to" in str(report.export["problem"])
    text = _flux("status", "-p", str(shop))
    assert "Export" in text and "dropped" in text


async def test_an_invalid_traceparent_starts_a_trace_of_its_own(shop: Path) -> None:
    async with FluxApp(shop) as flux:
        r = await flux.client.post(
            "/create_user",
            json={"email": "t@x.com"},
            headers={"traceparent": f"00-{'0' * 32}-{CALLER_SPAN}-01"},
        )
        [e] = await flux.recorded(r.headers["x-flux-request-id"])
    assert len(e.trace_id) == 32 and e.trace_id != "0" * 32 and e.trace_parent is None


def record(kind: str) -> dict[str, Any]:
    """A recorded execution of `kind` with two spans, as the writer process reads it."""
    from flux_lsp.model import Execution
    from flux_lsp.model import Span as FluxSpan

    execution = Execution(
        id="ab" * 8,
        kind=kind,
        function="f",
        method="POST",
        path="/f",
        status="200",
        started_at=1.0,
        duration_ms=1.0,
        spans=[FluxSpan(id=0, name="gateway"), FluxSpan(id=1, name="function")],
        trace_id="cd" * 16,
    )
    return to_json(execution)


def test_replays_are_never_exported() -> None:
    from flux_lsp.recorder.otlp import export_request

    assert export_request([record("replay")], "flux")[1] == 0
    assert export_request([record("http")], "flux")[1] == 2


def test_an_https_collectors_certificate_is_verified(tmp_path: Path, collector: Loopback) -> None:
    """Certificates are loaded only for an https collector, and checked there: one that
    presents a certificate no authority signed gets no span, and says why."""
    import ssl

    from flux_lsp.recorder.export import ExportTarget, OtlpExporter

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    tls = Loopback()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    tls.server.socket = context.wrap_socket(tls.server.socket, server_side=True)
    try:
        for url, exported in ((tls.url.replace("http:", "https:"), 0), (collector.url, 2)):
            exporter = OtlpExporter(ExportTarget(url + "/v1/traces"), attempts=1)
            exporter.offer([json.dumps(record("http")).encode()])
            assert exporter.flush()
            assert exporter.exported == exported
            if not exported:
                assert exporter.problem is not None
                assert "CERTIFICATE_VERIFY_FAILED" in exporter.problem
            exporter.close()
    finally:
        tls.close()
    assert len(collector.received) == 1


def test_the_standard_otel_variables_set_the_target(tmp_path: Path) -> None:
    from flux_lsp.recorder.export import export_target
    from flux_lsp.settings import load_settings

    def target(toml: str, env: dict[str, str]) -> Any:
        (tmp_path / "flux.toml").write_text(toml)
        return export_target(load_settings(tmp_path, env, use_env_file=False).settings.telemetry)

    assert target("", {}) is None
    on = target('[telemetry]\notlp_endpoint = "http://collector:4318/"\n', {})
    assert (on.url, on.service_name, on.headers) == ("http://collector:4318/v1/traces", "flux", {})
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "https://api.honeycomb.io",
        "OTEL_EXPORTER_OTLP_HEADERS": "x-honeycomb-team=abc%3D123, x-other = 1",
        "OTEL_SERVICE_NAME": "shop-api",
    }
    on = target('[telemetry]\notlp_endpoint = "http://collector:4318"\n', env)
    assert on.url == "https://api.honeycomb.io/v1/traces" and on.service_name == "shop-api"
    assert on.headers == {"x-honeycomb-team": "abc=123", "x-other": "1"}
    env = {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://tempo:4318/custom/traces"}
    assert target("", env).url == "http://tempo:4318/custom/traces"
