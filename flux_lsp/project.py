"""A Flux project on disk: its folders, its `flux.toml`, and the hash of its code.

A project is a folder with `functions/`, optional `migrations/` and `templates/`, an optional
`flux.toml`, and `.flux/` for the app database and the recorder. Every setting has a default,
so an empty folder with one function in it is a working project. Like `model`, this module is
shared by every layer and imports nothing else from Flux.
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """`flux.toml` is unreadable or holds a value of the wrong kind."""


SHARED_FOLDER = "lib"
"""The folder at the project root for code the functions share; deployed with them."""

DEFAULT_REDACT_HEADERS = (
    "authorization",
    "cookie",
    "set-cookie",
    "stripe-signature",
    "x-api-key",
    "proxy-authorization",
)
DEFAULT_REDACT_KEYS = (
    "password",
    "passwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "card_number",
    "cvc",
    "ssn",
    "authorization",
)


@dataclass(slots=True)
class SmtpSettings:
    host: str = "127.0.0.1"
    port: int = 25
    username: str | None = None
    password: str | None = None
    sender: str = "flux@localhost"
    starttls: bool = False
    use_tls: bool = False
    timeout: float = 10.0


@dataclass(slots=True)
class Settings:
    """Everything `flux.toml` can set, with the embedded defaults."""

    functions_dir: str = "functions"
    migrations_dir: str = "migrations"
    templates_dir: str = "templates"
    state_dir: str = ".flux"
    recorder_path: str | None = None
    recorder_queue_size: int = 10_000
    redact_headers: tuple[str, ...] = DEFAULT_REDACT_HEADERS
    redact_keys: tuple[str, ...] = DEFAULT_REDACT_KEYS
    stripe_webhook_secret: str | None = None
    stripe_tolerance: int = 300
    email_provider: str = "console"
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    queue_max_attempts: int = 3
    queue_backoff_seconds: float = 1.0
    queue_poll_seconds: float = 0.2
    server_token: str | None = None


def _section(data: dict[str, Any], name: str) -> dict[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(f"flux.toml: [{name}] must be a table")
    return value


def _typed(section: dict[str, Any], key: str, kind: type, where: str, default: Any) -> Any:
    if key not in section:
        return default
    value = section[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(f"flux.toml: {where}.{key} must be a {kind.__name__}")
    return value


def _string_list(section: dict[str, Any], key: str, where: str) -> tuple[str, ...] | None:
    if key not in section:
        return None
    value = section[key]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"flux.toml: {where}.{key} must be a list of strings")
    return tuple(v.lower() for v in value)


def parse_settings(data: dict[str, Any]) -> Settings:
    """Settings from the parsed `flux.toml` document."""
    s = Settings()
    paths = _section(data, "project")
    s.functions_dir = _typed(paths, "functions", str, "project", s.functions_dir)
    s.migrations_dir = _typed(paths, "migrations", str, "project", s.migrations_dir)
    s.templates_dir = _typed(paths, "templates", str, "project", s.templates_dir)

    rec = _section(data, "recorder")
    s.recorder_path = _typed(rec, "path", str, "recorder", None)
    s.recorder_queue_size = _typed(rec, "queue_size", int, "recorder", s.recorder_queue_size)

    red = _section(data, "redaction")
    extra_headers = _string_list(red, "headers", "redaction") or ()
    extra_keys = _string_list(red, "keys", "redaction") or ()
    s.redact_headers = tuple(dict.fromkeys(DEFAULT_REDACT_HEADERS + extra_headers))
    s.redact_keys = tuple(dict.fromkeys(DEFAULT_REDACT_KEYS + extra_keys))

    stripe = _section(data, "stripe")
    s.stripe_webhook_secret = _typed(stripe, "webhook_secret", str, "stripe", None)
    s.stripe_tolerance = _typed(stripe, "tolerance", int, "stripe", s.stripe_tolerance)

    email = _section(data, "email")
    s.email_provider = _typed(email, "provider", str, "email", s.email_provider)
    if s.email_provider not in ("console", "smtp"):
        raise ConfigError("flux.toml: email.provider must be 'console' or 'smtp'")
    smtp = _section(email, "smtp")
    s.smtp = SmtpSettings(
        host=_typed(smtp, "host", str, "email.smtp", "127.0.0.1"),
        port=_typed(smtp, "port", int, "email.smtp", 25),
        username=_typed(smtp, "username", str, "email.smtp", None),
        password=_typed(smtp, "password", str, "email.smtp", None),
        sender=_typed(smtp, "from", str, "email.smtp", "flux@localhost"),
        starttls=_typed(smtp, "starttls", bool, "email.smtp", False),
        use_tls=_typed(smtp, "tls", bool, "email.smtp", False),
        timeout=_typed(smtp, "timeout", float, "email.smtp", 10.0),
    )

    queue = _section(data, "queue")
    s.queue_max_attempts = _typed(queue, "max_attempts", int, "queue", s.queue_max_attempts)
    s.queue_backoff_seconds = _typed(queue, "backoff", float, "queue", s.queue_backoff_seconds)
    s.queue_poll_seconds = _typed(queue, "poll", float, "queue", s.queue_poll_seconds)

    server = _section(data, "server")
    s.server_token = _typed(server, "token", str, "server", None)
    return s


@dataclass(slots=True)
class Project:
    """A project folder and its settings."""

    root: Path
    settings: Settings = field(default_factory=Settings)

    @classmethod
    def load(cls, root: str | os.PathLike[str] = ".") -> Project:
        """Read `flux.toml` (when present) and apply environment overrides."""
        path = Path(root).resolve()
        config_file = path / "flux.toml"
        data: dict[str, Any] = {}
        if config_file.is_file():
            try:
                data = tomllib.loads(config_file.read_text(encoding="utf-8"))
            except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
                raise ConfigError(f"flux.toml: {exc}") from None
        settings = parse_settings(data)
        settings.stripe_webhook_secret = (
            os.environ.get("STRIPE_WEBHOOK_SECRET") or settings.stripe_webhook_secret
        )
        settings.server_token = os.environ.get("FLUX_TOKEN") or settings.server_token
        return cls(root=path, settings=settings)

    @property
    def functions_dir(self) -> Path:
        return self.root / self.settings.functions_dir

    @property
    def migrations_dir(self) -> Path:
        return self.root / self.settings.migrations_dir

    @property
    def templates_dir(self) -> Path:
        return self.root / self.settings.templates_dir

    @property
    def shared_dir(self) -> Path:
        """`lib/`: code the functions share (`from lib.pricing import total`)."""
        return self.root / SHARED_FOLDER

    @property
    def state_dir(self) -> Path:
        return self.root / self.settings.state_dir

    @property
    def app_db_path(self) -> Path:
        return self.state_dir / "app.db"

    @property
    def recorder_path(self) -> Path:
        if self.settings.recorder_path:
            return self.root / self.settings.recorder_path
        return self.state_dir / "recorder.db"

    def relative(self, path: str | os.PathLike[str]) -> str:
        """`path` relative to the project root, with forward slashes, when inside it."""
        try:
            return Path(path).resolve().relative_to(self.root).as_posix()
        except ValueError:
            return Path(path).as_posix()

    def code_files(self) -> list[Path]:
        """The files whose content defines the code version, in a stable order."""
        files: list[Path] = []
        for folder, pattern in ((self.functions_dir, "*.py"), (self.migrations_dir, "*.sql")):
            if folder.is_dir():
                files.extend(sorted(folder.glob(pattern)))
        if self.shared_dir.is_dir():
            files.extend(
                sorted(
                    p
                    for p in self.shared_dir.rglob("*.py")
                    if not any(part.startswith(".") for part in p.parts[len(self.root.parts) :])
                )
            )
        return files

    def code_version(self, overlay: dict[str, str] | None = None) -> str:
        """A short hash of functions/ and migrations/ (with unsaved `overlay` texts applied)."""
        digest = hashlib.sha256()
        overlay = overlay or {}
        seen: set[str] = set()
        for file in self.code_files():
            rel = self.relative(file)
            seen.add(rel)
            digest.update(rel.encode())
            text = overlay.get(rel)
            digest.update(text.encode() if text is not None else file.read_bytes())
        for rel in sorted(set(overlay) - seen):
            digest.update(rel.encode())
            digest.update(overlay[rel].encode())
        return digest.hexdigest()[:12]
