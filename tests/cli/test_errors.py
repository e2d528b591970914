"""Every mistake a user can make with the inspecting commands: one line on stderr, exit 1."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tests.cli.flux import Result, flux
from tests.cli.incident import Incident

COMMANDS = [
    ["why", "{id}"],
    ["trace", "{id}"],
    ["trace", "debug", "{id}"],
    ["trace", "diff", "{id}", "{id}"],
    ["state", "history", "users", "--filter", "job={id}"],
]


def one_line_error(r: Result) -> str:
    assert r.code == 1, (r.out, r.err)
    assert r.out == ""
    lines = r.err.splitlines()
    assert len(lines) == 1, r.err
    assert lines[0].startswith("flux: ")
    return lines[0]


def _ambiguous_prefix(incident: Incident) -> str:
    ids = [
        incident.created_user, incident.validation_error, incident.signup,
        incident.failed_webhook, incident.confirm_email, incident.good_webhook,
        incident.bad_signature, incident.exception, incident.job, *incident.extra,
    ]  # fmt: skip
    digit, count = Counter(i[0] for i in ids).most_common(1)[0]
    assert count >= 2
    return digit


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_unknown_id(incident: Incident, command: list[str]) -> None:
    args = [a.replace("{id}", "req:ffff0000") for a in command]
    line = one_line_error(flux(*args, "-p", str(incident.project)))
    assert line == "flux: no execution matches 'req:ffff0000'"


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_ambiguous_prefix_lists_the_candidates(incident: Incident, command: list[str]) -> None:
    prefix = _ambiguous_prefix(incident)
    args = [a.replace("{id}", prefix) for a in command]
    line = one_line_error(flux(*args, "-p", str(incident.project)))
    assert line.startswith(f"flux: '{prefix}' matches ")
    assert line.endswith("; use more digits")
    assert line.count(f"req:{prefix}") >= 2


def test_not_an_id(incident: Incident) -> None:
    line = one_line_error(flux("why", "hello!", "-p", str(incident.project)))
    assert line == "flux: no execution matches 'hello!'"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--filter", "status"], "flux: bad filter 'status': expected KEY=VALUE, e.g. status=500"),
        (["--filter", "colour=red"], "flux: unknown filter key 'colour': use one of "),
        (["--filter", "status=oops"], "flux: bad status 'oops': "),
        (["--filter", "kind=cron"], "flux: bad kind 'cron': use http, job or replay"),
        (["--since", "yesterdayish"], "flux: bad time 'yesterdayish': "),
        (["--since", "25:00"], "flux: bad time '25:00': no such time of day"),
        (["--limit", "0"], "flux: bad limit 0: "),
    ],
)
def test_tail_bad_filters_and_times(incident: Incident, args: list[str], message: str) -> None:
    line = one_line_error(flux("tail", *args, "-p", str(incident.project)))
    assert line.startswith(message)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--filter", "job"], "flux: bad filter 'job': expected job=<id> or req=<id>"),
        (["--filter", "user=u_1"], "flux: unknown filter key 'user': use job=<id> or req=<id>"),
    ],
)
def test_history_bad_filter(incident: Incident, args: list[str], message: str) -> None:
    line = one_line_error(flux("state", "history", "users", *args, "-p", str(incident.project)))
    assert line == message


def test_history_bad_table(incident: Incident) -> None:
    line = one_line_error(flux("state", "history", "users;drop", "-p", str(incident.project)))
    assert line == "flux: bad table name 'users;drop'"


@pytest.mark.parametrize(
    "command", [["tail"], ["why", "7c8d9e0f"], ["trace", "7c8d9e0f"], ["status"]]
)
def test_missing_recorder(tmp_path: Path, command: list[str]) -> None:
    line = one_line_error(flux(*command, "-p", str(tmp_path)))
    assert line.startswith(f"flux: no recorder at {tmp_path / '.flux'}")
    line = one_line_error(flux(*command, "--recorder", str(tmp_path / "nope.db")))
    assert line.startswith(f"flux: no recorder at {tmp_path / 'nope.db'}")


def test_corrupt_recorder(tmp_path: Path) -> None:
    bad = tmp_path / "recorder.db"
    bad.write_bytes(b"this is not a database, just some bytes " * 200)
    line = one_line_error(flux("tail", "--recorder", str(bad)))
    assert line.startswith(f"flux: {bad} is not a readable recorder")


def test_sqlite_file_that_is_not_a_recorder(tmp_path: Path) -> None:
    import sqlite3

    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE notes (x)")
    line = one_line_error(flux("status", "--recorder", str(other)))
    assert line == f"flux: {other} is a SQLite file but not a Flux recorder"


def test_bad_project_config(tmp_path: Path) -> None:
    (tmp_path / "flux.toml").write_text("[recorder\npath = 1")
    line = one_line_error(flux("tail", "-p", str(tmp_path)))
    assert "flux.toml" in line


def test_bad_server_url(incident: Incident) -> None:
    line = one_line_error(flux("tail", "--server", "ftp://example.invalid"))
    assert line == "flux: bad server URL 'ftp://example.invalid': expected http://… or https://…"


def test_unreachable_server() -> None:
    from tests.harness import free_port

    url = f"http://127.0.0.1:{free_port()}"
    line = one_line_error(flux("why", "7c8d9e0f", "--server", url, "--token", "t"))
    assert line.startswith(f"flux: cannot reach the Flux server at {url}")
