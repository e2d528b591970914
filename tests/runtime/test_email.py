"""ctx.email: templates, the console outbox, a real SMTP server on loopback, and refusals."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from flux_lsp.model import Execution, Span
from flux_lsp.runtime.email import EmailService, outbox_messages
from flux_lsp.runtime.inflight import Trace
from flux_lsp.runtime.worker import run_pending
from tests.harness import NoWorker, free_port, write_function

pytestmark = pytest.mark.usefixtures("backend")  # on SQLite and PostgreSQL

NOTIFY = """\
async def handler(req, ctx):
    body = await req.json()
    result = await ctx.email.send(to=body["to"], template=body["template"], data=body["data"])
    return {"status": result.status}
"""


@dataclass
class Mailbox:
    """What the SMTP server received; recipients in `refuse` get a 550."""

    refuse: set[str] = field(default_factory=set)
    messages: list[email.message.EmailMessage] = field(default_factory=list)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address in self.refuse:
            return f"550 5.1.1 <{address}>: mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(msg, email.message.EmailMessage)
        self.messages.append(msg)
        return "250 2.0.0 Ok: queued as Q1234"


@pytest.fixture
def smtp_server() -> Iterator[tuple[Mailbox, int]]:
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


def use_smtp(shop: Path, port: int) -> None:
    (shop / "flux.toml").write_text(
        f'[email]\nprovider = "smtp"\n[email.smtp]\nhost = "127.0.0.1"\nport = {port}\n'
        'from = "shop@example.com"\n'
    )


def email_span(e: Execution) -> Span:
    return next(s for s in e.spans if s.name == "email.send")


async def test_console_provider_writes_the_rendered_message_and_a_row(shop: Path) -> None:
    write_function(shop, "notify", NOTIFY)
    async with NoWorker(shop) as flux:
        r = await flux.client.post(
            "/notify", json={"to": "a@b.com", "template": "welcome", "data": {"name": "Alice"}}
        )
        assert r.json() == {"status": "sent"}
        [e] = await flux.recorded(r.headers["x-flux-request-id"])
        rows = await flux.runtime.database.dump_table("email_sends")
        [path] = outbox_messages(flux.project)
    msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert msg["Subject"] == "Welcome to the shop, Alice!" and msg["To"] == "a@b.com"
    span = email_span(e)
    assert span.output["status"] == "sent" and span.output["provider"] == "console"
    assert span.output["message_id"] == msg["Message-ID"]
    assert span.attributes["email.template"] == "welcome"
    assert span.file == "functions/notify.py" and span.line == 3
    [row] = rows
    assert (row["to"], row["template"], row["status"]) == ("a@b.com", "welcome", "sent")
    assert row["provider_message_id"] == msg["Message-ID"] and row["execution_id"] == e.id
    [m] = e.mutations
    assert (m.table, m.op, m.after["execution_id"]) == ("email_sends", "insert", e.id)


async def test_smtp_provider_delivers_to_a_real_server(
    shop: Path, smtp_server: tuple[Mailbox, int]
) -> None:
    mailbox, port = smtp_server
    use_smtp(shop, port)
    async with NoWorker(shop) as flux:
        r = await flux.client.post(
            "/signup", json={"email": "a@b.com", "name": "Alice", "customer_id": "cus_1"}
        )
        assert r.status_code == 201
        [result] = await run_pending(flux.runtime)
        job = result.execution
        [e] = await flux.recorded(job.id)
        rows = await flux.runtime.database.dump_table("email_sends")
    assert e.status == "done" and e.kind == "job"
    [msg] = mailbox.messages
    assert msg["To"] == "a@b.com" and msg["From"] == "shop@example.com"
    assert msg["Subject"] == "Welcome to the shop, Alice!"
    assert msg.get_content().replace("\r\n", "\n").startswith("Hi Alice,\n\nYour account")
    span = email_span(e)
    assert span.output["status"] == "queued" and span.output["provider"] == "smtp"
    assert "queued as Q1234" in span.output["reply"]
    [row] = rows
    assert row["provider_message_id"] == msg["Message-ID"] and row["execution_id"] == e.id


async def test_refused_message_job_is_done_with_the_refusal_and_no_row(
    shop: Path, smtp_server: tuple[Mailbox, int]
) -> None:
    """The seed's background-worker story: `done`, but the provider refused the email."""
    mailbox, port = smtp_server
    mailbox.refuse.add("bounce@b.com")
    use_smtp(shop, port)
    async with NoWorker(shop) as flux:
        await flux.client.post("/signup", json={"email": "bounce@b.com", "customer_id": "c1"})
        [result] = await run_pending(flux.runtime)
        [e] = await flux.recorded(result.execution.id)
        rows = await flux.runtime.database.dump_table("email_sends")
    assert e.status == "done" and e.error is None
    span = email_span(e)
    assert span.output["status"] == "rejected"
    assert span.output["reply"] == "550 5.1.1 <bounce@b.com>: mailbox unavailable"
    assert span.status == "error" and "rejected" in (span.error or "")
    assert rows == [] and mailbox.messages == []
    assert [m.table for m in e.mutations] == []


async def test_unreachable_smtp_server_fails_the_send(shop: Path) -> None:
    use_smtp(shop, free_port())
    write_function(shop, "notify", NOTIFY)
    async with NoWorker(shop) as flux:
        r = await flux.client.post(
            "/notify", json={"to": "a@b.com", "template": "welcome", "data": {"name": "A"}}
        )
    assert r.status_code == 500
    assert r.json()["error"].startswith("cannot send email via 127.0.0.1:")


@pytest.mark.parametrize(
    ("template", "data", "message"),
    [
        ("nope", {}, "email template not found: templates/nope.txt"),
        ("welcome", {}, "email template welcome uses {name}, which is not in data"),
        ("../flux", {}, "invalid email template name: '../flux'"),
    ],
)
async def test_template_problems_are_one_clear_error(
    shop: Path, template: str, data: dict[str, Any], message: str
) -> None:

    write_function(shop, "notify", NOTIFY)
    async with NoWorker(shop) as flux:
        r = await flux.client.post(
            "/notify", json={"to": "a@b.com", "template": template, "data": data}
        )
        [e] = await flux.recorded(r.headers["x-flux-request-id"])
    assert r.status_code == 500 and r.json()["error"] == message
    assert e.error is not None and e.error.location is not None
    assert e.error.location.line == 3
    assert email_span(e).status == "error"


async def test_replay_suppresses_the_send(shop: Path) -> None:
    original = Execution(
        id="orig", kind="job", function="send_onboarding_email", method="JOB",
        path="send_onboarding_email", status="done", started_at=0.0, duration_ms=1.0,
    )  # fmt: skip
    trace = Trace("replay1", "/nowhere/", "/nowhere", original)
    async with NoWorker(shop) as flux:
        result = await EmailService(flux.runtime, flux.runtime.code, trace).send(
            to="a@b.com", template="welcome", data={"name": "Alice"}
        )
        rows = await flux.runtime.database.dump_table("email_sends")
        sent = outbox_messages(flux.project)
    assert result.status == "suppressed" and not result.accepted
    [span] = trace.spans
    assert span.output["status"] == "suppressed" and span.status == "ok"
    assert rows == [] and sent == [] and trace.mutations == []
