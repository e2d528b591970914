"""`ctx.email`: templated email through a provider, an `email.send` span and an `email_sends` row.

Templates are files `templates/<name>.txt` whose first line is `Subject: ...`; the rest is the
body; both are filled with `str.format(**data)`. Two providers implement `EmailProvider`:
`console` (the default) writes each rendered message to `.flux/outbox/`, and `smtp` hands it
to a real SMTP server with aiosmtplib. A message the provider accepts is a row in the
`email_sends` app table, written through the mutation log. A message the provider refuses
(an SMTP 5xx) is returned with status `rejected` and the provider's reply, shows as such in the
span, and leaves no row — `send` does not raise, as real providers' "accepted for nothing"
answers do not either. During a replay nothing is sent: the span says `suppressed`.
"""

from __future__ import annotations

import contextlib
import email.utils
import re
import time
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import aiosmtplib

from flux_lsp.encode import to_json
from flux_lsp.model import JSON
from flux_lsp.project import Project
from flux_lsp.runtime.inflight import Trace
from flux_lsp.settings import SmtpSection

if TYPE_CHECKING:
    from flux_lsp.runtime.runtime import LoadedCode, Runtime

EMAIL_SENDS_TABLE = "email_sends"
EMAIL_SENDS_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {EMAIL_SENDS_TABLE} (
    id TEXT PRIMARY KEY,
    "to" TEXT NOT NULL,
    template TEXT NOT NULL,
    subject TEXT,
    status TEXT NOT NULL,
    provider TEXT NOT NULL,
    provider_message_id TEXT,
    execution_id TEXT NOT NULL,
    created_at REAL NOT NULL
)
"""
_TEMPLATE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$")


class EmailError(Exception):
    """An email that cannot be sent as asked: unknown template, missing field, no server."""


@dataclass(slots=True)
class RenderedEmail:
    to: str
    template: str
    subject: str
    body: str


@dataclass(slots=True)
class SendResult:
    """What the provider answered. `accepted` is False for `rejected` and `suppressed`."""

    status: str
    """`sent` (console), `queued` (accepted by the SMTP server), `rejected`, `suppressed`."""
    provider: str
    message_id: str | None = None
    reply: str | None = None
    """The provider's own answer, e.g. the SMTP reply line."""

    @property
    def accepted(self) -> bool:
        return self.status in ("sent", "queued")


def render_template(templates_dir: Path, to: str, name: str, data: dict[str, Any]) -> RenderedEmail:
    """Fill `templates/<name>.txt` with `data`; a clear `EmailError` when it cannot."""
    if not _TEMPLATE_NAME.match(name) or ".." in name:
        raise EmailError(f"invalid email template name: {name!r}")
    path = templates_dir / f"{name}.txt"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise EmailError(f"email template not found: templates/{name}.txt") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise EmailError(f"cannot read email template templates/{name}.txt: {exc}") from None
    first, _, rest = text.partition("\n")
    if not first.lower().startswith("subject:"):
        raise EmailError(f"email template templates/{name}.txt must start with 'Subject: ...'")
    try:
        subject = first[len("subject:") :].strip().format(**data)
        body = rest.lstrip("\n").format(**data)
    except KeyError as exc:
        raise EmailError(
            f"email template {name} uses {{{exc.args[0]}}}, which is not in data"
        ) from None
    except (IndexError, ValueError) as exc:
        raise EmailError(f"email template {name} cannot be filled: {exc}") from None
    return RenderedEmail(to=to, template=name, subject=subject, body=body)


def build_message(rendered: RenderedEmail, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = rendered.to
    message["Subject"] = rendered.subject
    message["Date"] = email.utils.formatdate(localtime=False)
    message["Message-ID"] = email.utils.make_msgid(domain="flux.local")
    message["X-Flux-Template"] = rendered.template
    message.set_content(rendered.body)
    return message


class EmailProvider(Protocol):
    name: str

    async def send(self, message: EmailMessage) -> SendResult: ...


class ConsoleProvider:
    """Writes each message, as it would go on the wire, to a file in the outbox folder."""

    name = "console"

    def __init__(self, outbox: Path) -> None:
        self.outbox = outbox

    async def send(self, message: EmailMessage) -> SendResult:
        self.outbox.mkdir(parents=True, exist_ok=True)
        message_id = str(message["Message-ID"])
        stem = re.sub(r"[^A-Za-z0-9.-]", "", message_id.split("@")[0])
        path = self.outbox / f"{time.strftime('%Y%m%d-%H%M%S')}-{stem}.eml"
        path.write_bytes(message.as_bytes())
        return SendResult("sent", self.name, message_id, f"written to {path.name}")


class SmtpProvider:
    """Sends through an SMTP server; a permanent (5xx) refusal is a `rejected` result."""

    name = "smtp"

    def __init__(self, settings: SmtpSection) -> None:
        self.settings = settings

    async def send(self, message: EmailMessage) -> SendResult:
        s = self.settings
        message_id = str(message["Message-ID"])
        try:
            errors, reply = await aiosmtplib.send(
                message,
                hostname=s.host,
                port=s.port,
                username=s.username,
                password=s.password,
                use_tls=s.tls,
                start_tls=s.starttls,
                timeout=s.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refused = exc.recipients[0]
            return self._refused(refused.code, refused.message, message_id)
        except aiosmtplib.SMTPResponseException as exc:
            if exc.code >= 500:
                return self._refused(exc.code, exc.message, message_id)
            raise EmailError(
                f"SMTP server deferred the message: {exc.code} {exc.message}"
            ) from None
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise EmailError(f"cannot send email via {s.host}:{s.port}: {exc}") from None
        if errors:
            code, text = next(iter(errors.values()))
            return self._refused(code, text, message_id)
        return SendResult("queued", self.name, message_id, reply)

    def _refused(self, code: int, text: str, message_id: str) -> SendResult:
        return SendResult("rejected", self.name, message_id, f"{code} {text}".strip())


def make_provider(project: Project) -> EmailProvider:
    settings = project.settings
    if settings.email.provider == "smtp":
        return SmtpProvider(settings.email.smtp)
    return ConsoleProvider(project.state_dir / "outbox")


class EmailService:
    """`ctx.email` for one execution: the run's code version, the runtime's app database."""

    def __init__(self, runtime: Runtime, code: LoadedCode, trace: Trace) -> None:
        self._runtime = runtime
        self._code = code
        self._trace = trace

    async def send(
        self, *, to: str, template: str, data: dict[str, Any] | None = None
    ) -> SendResult:
        """Render `template` with `data` and send it to `to`; the provider's answer."""
        runtime, trace = self._runtime, self._trace
        project = self._code.project
        provider_name = project.settings.email.provider
        attrs: dict[str, JSON] = {"email.template": template, "email.provider": provider_name}
        with trace.span("email.send", attrs) as span:
            span.input = {"to": to, "template": template, "data": dict(data or {})}
            if not isinstance(to, str) or not to:
                raise EmailError("email recipient `to` must be a non-empty string")
            rendered = render_template(project.templates_dir, to, template, dict(data or {}))
            span.attributes["email.subject"] = rendered.subject
            if trace.replaying:
                result = SendResult("suppressed", provider_name, reply="replay: email is off")
            else:
                message = build_message(rendered, project.settings.email.smtp.sender)
                result = await make_provider(project).send(message)
            span.output = {k: v for k, v in to_json(result).items() if v is not None}
            span.attributes["email.status"] = result.status
            if result.status == "rejected":
                span.status = "error"
                span.error = f"{result.provider} rejected the message: {result.reply}"
            if result.accepted:
                await runtime.database.insert(
                    trace,
                    EMAIL_SENDS_TABLE,
                    {
                        "to": to,
                        "template": template,
                        "subject": rendered.subject,
                        "status": result.status,
                        "provider": result.provider,
                        "provider_message_id": result.message_id,
                        "execution_id": trace.execution_id,
                        "created_at": time.time(),
                    },
                )
        return result


def outbox_messages(project: Project) -> list[Path]:
    """The console provider's messages, oldest first."""
    with contextlib.suppress(FileNotFoundError):
        return sorted((project.state_dir / "outbox").glob("*.eml"))
    return []
