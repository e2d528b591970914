"""The typed schema of `flux.toml`, and reading it once: file, `.env`, environment, defaults.

Every setting is a field of a section dataclass below, declared once with its default, its
documentation and, for secrets, the note that it belongs in the environment. Everything else is
derived from those declarations:

- the `flux.toml` reader (`load_settings`): an unknown section or key is a `ConfigError` naming
  the file, the line and the nearest valid key; a value of the wrong kind names the key and
  the kind it must be;
- the environment: every setting can be given as `FLUX_<SECTION>_<KEY>` (`FLUX_QUEUE_MAX_ATTEMPTS`,
  `FLUX_EMAIL_SMTP_PASSWORD`), and a few keep a conventional alias (`FLUX_TOKEN`,
  `STRIPE_WEBHOOK_SECRET`). The environment wins over a `.env` file in the project, which wins
  over `flux.toml`, which wins over the default;
- the table of settings in the README and the JSON Schema for `flux.toml` (`json_schema`), which
  editors with TOML schema support use to complete and check the file.

Like `model` and `project`, this module is shared by every layer and imports nothing from Flux.
"""

from __future__ import annotations

import os
import re
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

CONFIG_FILE = "flux.toml"
ENV_FILE = ".env"
ENV_PREFIX = "FLUX_"


class ConfigError(ValueError):
    """`flux.toml` (or a `FLUX_…` variable) is unreadable, unknown, or of the wrong kind."""


def setting(
    default: Any,
    doc: str,
    *,
    key: str | None = None,
    env: tuple[str, ...] = (),
    secret: bool = False,
) -> Any:
    """A field of a settings section: its default, what it does, and how it is spelled.

    `key` is the name in `flux.toml` when it is not the field's (`from`); `env` lists extra
    environment names beside the derived `FLUX_…` one; `secret` marks a value that belongs in
    the environment (or `.env`), never in `flux.toml`, which `flux deploy` uploads.
    """
    meta = {"doc": doc, "key": key, "env": env, "secret": secret}
    if isinstance(default, (list, dict, set)):
        raise TypeError("settings defaults are immutable: use a tuple")
    return field(default=default, metadata=meta)


def section(kind: type[Any], doc: str) -> Any:
    """A nested section (`[email.smtp]`) with its defaults."""
    return field(default_factory=kind, metadata={"doc": doc, "section": True})


# -- the schema ------------------------------------------------------------------------------

DEFAULT_REDACT_HEADERS = (
    "authorization",
    "cookie",
    "set-cookie",
    "stripe-signature",
    "x-api-key",
    "proxy-authorization",
    "x-hub-signature",
    "x-hub-signature-256",
)
DEFAULT_REDACT_KEYS = (
    # Matched anywhere in a key, case-insensitively, `-` read as `_` (after Sentry's list).
    "password",
    "passwd",
    "pwd",
    "passphrase",
    "secret",
    "token",
    "api_key",
    "apikey",
    "access_key",
    "private_key",
    "privatekey",
    "credential",
    "card_number",
    "cardnumber",
    "cvc",
    "cvv",
    "ssn",
    "authorization",
    "session_id",
    "sessionid",
    "csrf",
    "xsrf",
)


@dataclass(frozen=True, slots=True)
class ProjectSection:
    functions: str = setting("functions", "Folder of the function files, one per route or job.")
    migrations: str = setting("migrations", "Folder of the SQL migrations, applied in name order.")
    templates: str = setting("templates", "Folder of the email templates.")
    state: str = setting(".flux", "Folder of the app database and the recorder (keep out of git).")


@dataclass(frozen=True, slots=True)
class RecorderSection:
    path: str | None = setting(
        None, "The recorder file, relative to the project (default: <state>/recorder.db)."
    )
    queue_size: int = setting(
        10_000, "Records held for the writer before new ones are dropped (and counted)."
    )
    poll_seconds: float = setting(
        0.25,
        "How often the editor looks for new records when it cannot hear the writer's commit "
        "signal (a recorder behind `flux serve`, a file system without notifications).",
    )
    url: str | None = setting(
        None,
        "A postgresql:// recorder that every server writes and every teammate reads, instead "
        "of the file (put a password in FLUX_RECORDER_URL, not here).",
    )
    keep: str = setting("14d", "How long successes are kept (14d, 12h, 2w).")
    keep_failures: str = setting(
        "90d", "How long failed jobs and 4xx/5xx responses are kept: longer, as users come back."
    )
    max_size: str = setting("5GB", "Past this size the oldest successes are pruned first.")
    max_value: int = setting(
        64 * 1024,
        "Bytes kept of each recorded body, payload, message or local; the rest is cut and "
        "marked `…[cut: N bytes]`.",
    )


@dataclass(frozen=True, slots=True)
class RedactionSection:
    headers: tuple[str, ...] = setting(
        (), "Header names redacted before anything is stored, added to the built-in list."
    )
    keys: tuple[str, ...] = setting(
        (), "Body, row and variable keys redacted when they contain one of these words."
    )


@dataclass(frozen=True, slots=True)
class StripeSection:
    webhook_secret: str | None = setting(
        None,
        "The endpoint secret `ctx.stripe.verify_webhook` checks signatures with.",
        env=("STRIPE_WEBHOOK_SECRET",),
        secret=True,
    )
    tolerance: int = setting(300, "Seconds a signed webhook stays acceptable.")


@dataclass(frozen=True, slots=True)
class SmtpSection:
    host: str = setting("127.0.0.1", "SMTP server host.")
    port: int = setting(25, "SMTP server port.")
    username: str | None = setting(None, "SMTP user name.")
    password: str | None = setting(None, "SMTP password.", secret=True)
    sender: str = setting("flux@localhost", "The From address.", key="from")
    starttls: bool = setting(False, "Upgrade the connection with STARTTLS.")
    tls: bool = setting(False, "Connect over TLS from the start.")
    timeout: float = setting(10.0, "Seconds to wait for the SMTP server.")


@dataclass(frozen=True, slots=True)
class EmailSection:
    provider: Literal["console", "smtp"] = setting(
        "console", "`console` writes to <state>/outbox/; `smtp` sends through [email.smtp]."
    )
    smtp: SmtpSection = section(SmtpSection, "The SMTP provider.")


@dataclass(frozen=True, slots=True)
class QueueSection:
    max_attempts: int = setting(3, "Attempts before a job is marked failed.")
    backoff: float = setting(1.0, "Seconds before the first retry; doubled for each retry.")
    poll: float = setting(0.2, "Seconds between looks for due jobs.")
    lease: float = setting(
        20.0,
        "Seconds a worker holds a job without renewing it; a dead worker's jobs run again after.",
    )


@dataclass(frozen=True, slots=True)
class DatabaseSection:
    url: str | None = setting(
        None,
        "PostgreSQL for the app data and the job queue (`postgresql://user@host/db`; keep a "
        "password in the environment); none: the SQLite file <state>/app.db.",
    )
    busy_timeout: float = setting(
        5.0, "Seconds a request waits for a database lock before it is answered 503."
    )


@dataclass(frozen=True, slots=True)
class ServerSection:
    token: str | None = setting(
        None,
        "Turns on the admin API of `flux serve` (deploys, remote tail) and is its bearer token.",
        env=("FLUX_TOKEN",),
        secret=True,
    )
    max_body: int = setting(
        10 * 1024 * 1024,
        "Largest request body in bytes; a larger one is a 413, never read whole, and recorded.",
    )
    max_connections: int = setting(
        1000, "Open connections and requests in progress before new ones get a 503."
    )
    header_timeout: float = setting(
        10.0, "Seconds a new connection has to send its request headers before it is closed."
    )
    body_timeout: float = setting(
        30.0, "Seconds to wait for the next piece of a request body before answering 408."
    )
    keep_alive: float = setting(5.0, "Seconds an idle keep-alive connection stays open.")
    deploy_check_timeout: float = setting(
        30.0, "Seconds a deploy's check (unpacking, importing every function) may take."
    )
    deploy_check_memory: int = setting(
        1024, "Megabytes of memory a deploy's check process may use."
    )


@dataclass(frozen=True, slots=True)
class TelemetrySection:
    otlp_endpoint: str | None = setting(
        None,
        "OpenTelemetry collector's OTLP/HTTP base URL (http://localhost:4318): every execution "
        "is exported there as spans.",
        env=("OTEL_EXPORTER_OTLP_ENDPOINT",),
    )
    traces_endpoint: str | None = setting(
        None,
        "The full OTLP/HTTP traces URL, used as it is instead of <otlp_endpoint>/v1/traces.",
        env=("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",),
    )
    headers: str | None = setting(
        None,
        "Headers sent to the collector, key=value,key2=value2 (e.g. its API key).",
        env=("OTEL_EXPORTER_OTLP_HEADERS",),
        secret=True,
    )
    service_name: str = setting(
        "flux", "The service.name the exported spans carry.", env=("OTEL_SERVICE_NAME",)
    )


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything `flux.toml` can set, with the embedded defaults."""

    project: ProjectSection = section(ProjectSection, "Where the project's folders are.")
    recorder: RecorderSection = section(RecorderSection, "Where executions are recorded.")
    redaction: RedactionSection = section(RedactionSection, "What never reaches the recorder.")
    stripe: StripeSection = section(StripeSection, "Stripe webhooks.")
    email: EmailSection = section(EmailSection, "`ctx.email`.")
    queue: QueueSection = section(QueueSection, "The job queue and its worker.")
    database: DatabaseSection = section(DatabaseSection, "The app database and the job queue.")
    server: ServerSection = section(ServerSection, "`flux serve`.")
    telemetry: TelemetrySection = section(TelemetrySection, "OpenTelemetry export (OTLP/HTTP).")

    @property
    def redact_headers(self) -> tuple[str, ...]:
        """The built-in header names plus `[redaction] headers`, lower-cased, once each."""
        extra = tuple(h.lower() for h in self.redaction.headers)
        return tuple(dict.fromkeys(DEFAULT_REDACT_HEADERS + extra))

    @property
    def redact_keys(self) -> tuple[str, ...]:
        """The built-in key words plus `[redaction] keys`, lower-cased, once each."""
        extra = tuple(k.lower() for k in self.redaction.keys)
        return tuple(dict.fromkeys(DEFAULT_REDACT_KEYS + extra))


# -- walking the schema ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SettingInfo:
    """One leaf of the schema, as the README table and the JSON Schema list it."""

    path: tuple[str, ...]  # ("email", "smtp", "from")
    attrs: tuple[str, ...]  # ("email", "smtp", "sender")
    kind: Any
    default: Any
    doc: str
    env: tuple[str, ...]  # the derived FLUX_… name first, then aliases
    secret: bool

    @property
    def dotted(self) -> str:
        return ".".join(self.path)


def _key(f: Any) -> str:
    return str(f.metadata.get("key") or f.name)


_HINTS: dict[type[Any], dict[str, Any]] = {}


def _hints(kind: type[Any]) -> dict[str, Any]:
    """The evaluated annotations of a section (once: every load walks every section)."""
    hints = _HINTS.get(kind)
    if hints is None:
        hints = _HINTS[kind] = typing.get_type_hints(kind)
    return hints


def iter_settings(
    kind: type[Any] = Settings, path: tuple[str, ...] = (), attrs: tuple[str, ...] = ()
) -> Iterator[SettingInfo]:
    """Every setting of the schema, depth first, in declaration order."""
    hints = _hints(kind)
    for f in fields(kind):
        key = _key(f)
        if f.metadata.get("section"):
            yield from iter_settings(hints[f.name], (*path, key), (*attrs, f.name))
            continue
        derived = ENV_PREFIX + "_".join((*path, key)).upper()
        yield SettingInfo(
            path=(*path, key),
            attrs=(*attrs, f.name),
            kind=hints[f.name],
            default=f.default if f.default is not MISSING else None,
            doc=str(f.metadata.get("doc", "")),
            env=(derived, *f.metadata.get("env", ())),
            secret=bool(f.metadata.get("secret")),
        )


def _describe(kind: Any) -> str:
    origin = get_origin(kind)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(kind))
    if origin in (types.UnionType, typing.Union):
        inner = [a for a in get_args(kind) if a is not type(None)]
        return _describe(inner[0])
    if origin is tuple:
        return "a list of strings"
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false"}[kind]


def _convert(kind: Any, value: Any, from_env: bool) -> Any:
    """`value` as `kind`; raises ValueError with no message when it is not one."""
    origin = get_origin(kind)
    if origin in (types.UnionType, typing.Union):
        inner = [a for a in get_args(kind) if a is not type(None)]
        if value is None or (from_env and value == ""):
            return None
        return _convert(inner[0], value, from_env)
    if origin is Literal:
        if value not in get_args(kind):
            raise ValueError
        return value
    if origin is tuple:
        if from_env:
            return tuple(part.strip() for part in value.split(",") if part.strip())
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError
        return tuple(value)
    if kind is bool:
        if from_env:
            lowered = value.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if not isinstance(value, bool):
            raise ValueError
        return value
    if kind is int:
        if from_env:
            return int(value.strip())
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError
        return value
    if kind is float:
        if from_env:
            return float(value.strip())
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError
        return float(value)
    if not isinstance(value, str):
        raise ValueError
    return value


# -- where a key sits in the file --------------------------------------------------------------


def _line_of(text: str, path: tuple[str, ...]) -> int | None:
    """The line (1-based) of `[a.b]` or of `key =` inside `[a]`, found by a plain scan."""
    header = re.compile(r"^\s*\[\s*([^\]]+?)\s*\]")
    keyline = re.compile(r"^\s*([A-Za-z0-9_\-\"']+)\s*=")
    table: tuple[str, ...] = ()
    for number, line in enumerate(text.splitlines(), start=1):
        if match := header.match(line):
            table = tuple(part.strip().strip("\"'") for part in match.group(1).split("."))
            if table == path:
                return number
            continue
        if (match := keyline.match(line)) and (*table, match.group(1).strip("\"'")) == path:
            return number
    return None


def _where(source: str, text: str, path: tuple[str, ...]) -> str:
    line = _line_of(text, path) if text else None
    return f"{source}:{line}" if line else source


# -- reading ---------------------------------------------------------------------------------


def read_env_file(path: Path) -> dict[str, str]:
    """`KEY=value` lines of a `.env` file (comments, `export`, and quotes allowed)."""
    values: dict[str, str] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return values
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path.name}: cannot be read ({exc})") from None
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").strip()
        name, sep, value = line.partition("=")
        name = name.strip()
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise ConfigError(f"{path.name}:{number}: expected NAME=value")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        values[name] = value
    return values


def _check_keys(
    data: Mapping[str, Any], kind: type[Any], path: tuple[str, ...], source: str, text: str
) -> None:
    by_key = {_key(f): f for f in fields(kind)}
    for key, value in data.items():
        where = (*path, key)
        if key not in by_key:
            place = f"[{'.'.join(path)}]" if path else "flux.toml"
            what = "section" if isinstance(value, dict) and not path else "key"
            shown = f"[{key}]" if what == "section" else f"`{key}`"
            message = f"{_where(source, text, where)}: unknown {what} {shown}"
            if path:
                message += f" in {place}"
            import difflib  # only for a mistake

            close = difflib.get_close_matches(key, list(by_key), n=1, cutoff=0.6)
            if close:
                hint = f"[{'.'.join((*path, close[0]))}]" if what == "section" else f"`{close[0]}`"
                message += f"; did you mean {hint}?"
            raise ConfigError(message)
        f = by_key[key]
        if f.metadata.get("section"):
            if not isinstance(value, dict):
                raise ConfigError(f"{_where(source, text, where)}: [{'.'.join(where)}] is a table")
            _check_keys(value, _hints(kind)[f.name], where, source, text)


def _lookup(data: Mapping[str, Any], path: tuple[str, ...]) -> tuple[bool, Any]:
    node: Any = data
    for part in path:
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _build(kind: type[Any], values: dict[tuple[str, ...], Any], attrs: tuple[str, ...]) -> Any:
    hints = _hints(kind)
    kwargs: dict[str, Any] = {}
    for f in fields(kind):
        here = (*attrs, f.name)
        if f.metadata.get("section"):
            kwargs[f.name] = _build(hints[f.name], values, here)
        elif here in values:
            kwargs[f.name] = values[here]
    return kind(**kwargs)


@dataclass(frozen=True, slots=True)
class Loaded:
    """Settings and where each non-default value came from (`flux.toml:7`, `FLUX_…`, `.env`)."""

    settings: Settings
    sources: dict[str, str]
    secrets_in_file: tuple[str, ...]


def load_settings(
    root: Path, environ: Mapping[str, str] | None = None, *, use_env_file: bool = True
) -> Loaded:
    """Read `root/flux.toml`, then `root/.env`, then the environment, over the defaults."""
    config_file = root / CONFIG_FILE
    text = ""
    data: dict[str, Any] = {}
    if config_file.is_file():
        import tomllib  # not imported when there is no flux.toml to read

        try:
            text = config_file.read_text(encoding="utf-8")
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{CONFIG_FILE}: {exc}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{CONFIG_FILE}: cannot be read ({exc})") from None
    _check_keys(data, Settings, (), CONFIG_FILE, text)
    env_file = read_env_file(root / ENV_FILE) if use_env_file else {}
    environ = os.environ if environ is None else environ

    values: dict[tuple[str, ...], Any] = {}
    sources: dict[str, str] = {}
    secrets_in_file: list[str] = []
    for info in iter_settings():
        found, raw = _lookup(data, info.path)
        origin = _where(CONFIG_FILE, text, info.path)
        from_env = False
        for names, label in ((environ, None), (env_file, ENV_FILE)):
            name = next((n for n in info.env if names.get(n) not in (None, "")), None)
            if name is not None:
                found, raw, from_env = True, names[name], True
                origin = name if label is None else f"{label} ({name})"
                break
        if not found:
            continue
        if info.secret and not from_env:
            secrets_in_file.append(info.dotted)
        try:
            values[info.attrs] = _convert(info.kind, raw, from_env)
        except ValueError:
            raise ConfigError(
                f"{origin}: {info.dotted} must be {_describe(info.kind)}, not {raw!r}"
            ) from None
        sources[info.dotted] = origin
    return Loaded(_build(Settings, values, ()), sources, tuple(secrets_in_file))


# -- derived documents -----------------------------------------------------------------------

_JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean"}


def _json_type(kind: Any) -> dict[str, Any]:
    origin = get_origin(kind)
    if origin in (types.UnionType, typing.Union):
        inner = [a for a in get_args(kind) if a is not type(None)]
        return _json_type(inner[0])
    if origin is Literal:
        return {"enum": list(get_args(kind))}
    if origin is tuple:
        return {"type": "array", "items": {"type": "string"}}
    return {"type": _JSON_TYPES[kind]}


def json_schema(kind: type[Any] = Settings) -> dict[str, Any]:
    """The JSON Schema of `flux.toml` (draft 2020-12), unknown keys refused as Flux does."""
    hints = _hints(kind)
    properties: dict[str, Any] = {}
    for f in fields(kind):
        doc = str(f.metadata.get("doc", ""))
        if f.metadata.get("section"):
            properties[_key(f)] = {"description": doc, **json_schema(hints[f.name])}
            continue
        prop = {"description": doc, **_json_type(hints[f.name])}
        if f.default is not None:
            prop["default"] = list(f.default) if isinstance(f.default, tuple) else f.default
        if f.metadata.get("secret"):
            prop["description"] += " Secret: set it in the environment, not in flux.toml."
        properties[_key(f)] = prop
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if kind is Settings:
        schema = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "flux.toml",
            **schema,
        }
    return schema


def value_of(settings: Settings, info: SettingInfo) -> Any:
    """The value of one setting in `settings`."""
    node: Any = settings
    for attr in info.attrs:
        node = getattr(node, attr)
    return node
