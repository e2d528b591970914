"""The flux.toml schema: unknown keys with suggestions, kinds, `FLUX_…` variables, `.env`,
the JSON Schema, and the README's table of every variable."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import jsonschema
import pytest

from flux_lsp.settings import (
    ConfigError,
    SettingInfo,
    Settings,
    iter_settings,
    json_schema,
    load_settings,
    read_env_file,
    value_of,
)

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = list(iter_settings())


def load(tmp_path: Path, toml: str, environ: dict[str, str] | None = None) -> Settings:
    (tmp_path / "flux.toml").write_text(toml)
    return load_settings(tmp_path, environ or {}).settings


def error(tmp_path: Path, toml: str, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, toml, environ)
    return str(info.value)


def test_an_empty_project_has_every_default(tmp_path: Path) -> None:
    assert load_settings(tmp_path, {}).settings == Settings()


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        (
            "[recoder]\npath = 'r.db'\n",
            "flux.toml:1: unknown section [recoder]; did you mean [recorder]?",
        ),
        (
            "# comment\n[queue]\npoll = 1\nmax_attemps = 5\n",
            "flux.toml:4: unknown key `max_attemps` in [queue]; did you mean `max_attempts`?",
        ),
        ("[projct]\n", "flux.toml:1: unknown section [projct]; did you mean [project]?"),
        (
            "[email.smpt]\nhost = 'x'\n",
            "flux.toml:1: unknown key `smpt` in [email]; did you mean `smtp`?",
        ),
        ("[email.smtp]\nsender = 'a@b'\n", "flux.toml:2: unknown key `sender` in [email.smtp]"),
        ("zzz = 1\n", "flux.toml:1: unknown key `zzz`"),
    ],
)
def test_unknown_keys_name_the_line_and_the_nearest_key(
    tmp_path: Path, toml: str, expected: str
) -> None:
    assert error(tmp_path, toml) == expected


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ("[queue]\nmax_attempts = '3'\n", "flux.toml:2: queue.max_attempts must be an integer"),
        ("[queue]\nmax_attempts = true\n", "flux.toml:2: queue.max_attempts must be an integer"),
        ("[email]\nprovider = 'mailgun'\n", "flux.toml:2: email.provider must be one of"),
        ("[redaction]\nkeys = 'pin'\n", "flux.toml:2: redaction.keys must be a list of strings"),
        ("queue = 3\n", "flux.toml:1: [queue] is a table"),
        ("[queue\n", "flux.toml: "),
    ],
)
def test_wrong_kinds_are_one_line(tmp_path: Path, toml: str, expected: str) -> None:
    message = error(tmp_path, toml)
    assert message.startswith(expected), message
    assert "\n" not in message


def test_a_float_setting_takes_an_integer(tmp_path: Path) -> None:
    assert load(tmp_path, "[queue]\nbackoff = 2\n").queue.backoff == 2.0


def _sample(info: SettingInfo) -> tuple[str, Any]:
    """A value of the setting's kind that is not its default, as text and as parsed."""
    kind: Any = info.kind
    if get_origin(kind) is not None and type(None) in get_args(kind):
        kind = next(a for a in get_args(kind) if a is not type(None))
    if get_origin(kind) is Literal:
        choice = next(a for a in get_args(kind) if a != info.default)
        return str(choice), choice
    if get_origin(kind) is tuple:
        return "alpha, beta", ("alpha", "beta")
    if kind is bool:
        return "yes", True
    if kind is int:
        return "42", 42
    if kind is float:
        return "2.5", 2.5
    return "from-env", "from-env"


@pytest.mark.parametrize("info", SETTINGS, ids=lambda i: i.dotted)
def test_every_setting_comes_from_its_environment_variable(
    tmp_path: Path, info: SettingInfo
) -> None:
    text, expected = _sample(info)
    loaded = load_settings(tmp_path, {info.env[0]: text})
    assert value_of(loaded.settings, info) == expected
    assert loaded.sources[info.dotted] == info.env[0]


def test_the_environment_wins_over_dotenv_which_wins_over_flux_toml(tmp_path: Path) -> None:
    (tmp_path / "flux.toml").write_text("[queue]\nmax_attempts = 2\npoll = 0.5\nbackoff = 3\n")
    (tmp_path / ".env").write_text(
        "# local secrets\nexport FLUX_QUEUE_MAX_ATTEMPTS=7\nFLUX_QUEUE_POLL='0.25'\n"
        'STRIPE_WEBHOOK_SECRET="whsec_dotenv"  \n'
    )
    loaded = load_settings(tmp_path, {"FLUX_QUEUE_MAX_ATTEMPTS": "9"})
    s = loaded.settings
    assert (s.queue.max_attempts, s.queue.poll, s.queue.backoff) == (9, 0.25, 3.0)
    assert s.stripe.webhook_secret == "whsec_dotenv"
    assert loaded.sources["queue.max_attempts"] == "FLUX_QUEUE_MAX_ATTEMPTS"
    assert loaded.sources["queue.poll"] == ".env (FLUX_QUEUE_POLL)"
    assert loaded.sources["queue.backoff"] == "flux.toml:4"
    assert loaded.secrets_in_file == ()


def test_aliases_and_secrets_set_in_the_file(tmp_path: Path) -> None:
    (tmp_path / "flux.toml").write_text("[server]\ntoken = 't'\n[email.smtp]\npassword = 'p'\n")
    loaded = load_settings(tmp_path, {"FLUX_TOKEN": "from-env"})
    assert loaded.settings.server.token == "from-env"
    assert loaded.secrets_in_file == ("email.smtp.password",)


def test_a_bad_environment_value_names_the_variable(tmp_path: Path) -> None:
    message = error(tmp_path, "", {"FLUX_QUEUE_MAX_ATTEMPTS": "three"})
    assert message == "FLUX_QUEUE_MAX_ATTEMPTS: queue.max_attempts must be an integer, not 'three'"


def test_a_malformed_dotenv_line_is_named(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("A=1\nnot a setting\n")
    with pytest.raises(ConfigError, match=r"^\.env:2: expected NAME=value$"):
        read_env_file(tmp_path / ".env")


def test_redaction_lists_add_to_the_built_in_ones(tmp_path: Path) -> None:
    s = load(tmp_path, "[redaction]\nkeys = ['PIN']\nheaders = ['X-Internal-Auth']\n")
    assert "password" in s.redact_keys and s.redact_keys[-1] == "pin"
    assert "authorization" in s.redact_headers and s.redact_headers[-1] == "x-internal-auth"


def test_the_shipped_json_schema_is_the_schema(tmp_path: Path) -> None:
    shipped = json.loads((ROOT / "flux_lsp" / "flux-toml.schema.json").read_text())
    assert shipped == json_schema(), "regenerate with: flux config --schema"
    jsonschema.Draft202012Validator.check_schema(shipped)
    validator = jsonschema.Draft202012Validator(shipped)
    validator.validate({"queue": {"max_attempts": 3}, "email": {"smtp": {"from": "a@b"}}})
    assert not validator.is_valid({"recoder": {}})
    assert not validator.is_valid({"queue": {"max_attempts": "3"}})


def test_the_readme_lists_every_variable() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [i.env[0] for i in SETTINGS if not re.search(rf"`{i.env[0]}`", readme)]
    assert missing == []
