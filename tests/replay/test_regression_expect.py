"""The comparison rules of regression cases: generated ids by position, date-times, listed noise,
status classes, and how differences read."""

from __future__ import annotations

import pytest

from flux_lsp.model import Execution, Mutation
from flux_lsp.replay.case import Noise
from flux_lsp.replay.expect import (
    ExpectationError,
    check,
    parse_expectations,
    status_matches,
)


def run(status: str, body: object, user_id: str, created_at: str) -> Execution:
    row = {"id": user_id, "email": "a@b.com", "created_at": created_at}
    return Execution(
        id="x",
        kind="http",
        function="create_user",
        method="POST",
        path="/create_user",
        status=status,
        started_at=0.0,
        duration_ms=1.0,
        response={"status": int(status), "body": body},
        mutations=[Mutation("x", 0, "users", "insert", user_id, None, row, 1, 0.0)],
    )


RECORDED = {
    "status": "201",
    "error": None,
    "body": {"id": "u_42", "at": "2026-03-10T09:14:00+00:00"},
    "mutations": [
        {
            "table": "users",
            "op": "insert",
            "rows_affected": 1,
            "row": {"id": "u_42", "email": "a@b.com", "created_at": "2026-03-10T09:14:00"},
        }
    ],
}


def test_generated_ids_and_date_times_are_noise_by_default() -> None:
    now = run("201", {"id": "u_1", "at": "2026-11-29T10:00:00Z"}, "u_1", "2026-11-29T10:00:00")
    assert check(RECORDED, Noise(), now) == []


def test_without_the_rules_the_same_run_differs_where_expected() -> None:
    now = run("201", {"id": "u_1", "at": "2026-11-29T10:00:00Z"}, "u_1", "2026-11-29T10:00:00")
    texts = [d.text for d in check(RECORDED, Noise(generated_ids=False, timestamps=False), now)]
    assert texts == [
        'body.id  expected "u_42", got "u_1"',
        'body.at  expected "2026-03-10T09:14:00+00:00", got "2026-11-29T10:00:00Z"',
        'mutations.0.row.id  expected "u_42", got "u_1"',
        'mutations.0.row.created_at  expected "2026-03-10T09:14:00", got "2026-11-29T10:00:00"',
    ]


def test_listed_fields_are_left_out_by_path_or_bare_name() -> None:
    now = run("201", {"id": "u_1", "at": "not a date"}, "u_1", "yesterday")
    noisy = Noise(fields=["body.at", "created_at"])
    assert check(RECORDED, noisy, now) == []
    assert [d.path for d in check(RECORDED, Noise(), now)] == [
        "body.at",
        "mutations.0.row.created_at",
    ]


def test_a_different_shape_reads_as_missing_and_unexpected() -> None:
    now = run("201", {"user": {"id": "u_1"}}, "u_1", "2026-11-29T10:00:00")
    texts = [d.text for d in check(RECORDED, Noise(), now)]
    assert texts == [
        'body.id  expected "<users id 1>", missing',
        'body.at  expected "<timestamp>", missing',
        'body.user  unexpected {"id": "<users id 1>"}',
    ]


@pytest.mark.parametrize(
    ("rule", "status", "ok"),
    [
        ("200", "200", True),
        ("200", "201", False),
        ("2xx", "204", True),
        ("2xx", "500", False),
        ("not 5xx", "400", True),
        ("not 5xx", "503", False),
        ("not 5xx", "failed", False),
        ("not 5xx", "done", True),
        ("done", "done", True),
    ],
)
def test_status_rules(rule: str, status: str, ok: bool) -> None:
    assert status_matches(rule, status) is ok


def test_expectations_from_the_command_line() -> None:
    assert parse_expectations(["status=200", "error=none", 'body={"ok": true}']) == {
        "status": "200",
        "error": None,
        "body": {"ok": True},
    }
    assert parse_expectations(["status=2XX", "error=Row not found"]) == {
        "status": "2xx",
        "error": "Row not found",
    }
    for bad in ("status=fine", "colour=red", "body={", "status"):
        with pytest.raises(ExpectationError):
            parse_expectations([bad])
