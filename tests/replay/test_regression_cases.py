"""`flux test add` and `flux test`: the seed's incident saved as a case, run in a fresh clone.

The incident is recorded once (the session fixture) by driving the real example shop; cases are
saved from its recorder with the real command, and run in a copy of the project without `.flux/`
— no recorder, no app database — as CI would.
"""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from examples.shop_story import ROW_NOT_FOUND, fix_signup
from tests.cli.flux import flux
from tests.cli.incident import Incident
from tests.replay.helpers import clone

pytestmark = pytest.mark.usefixtures("no_env_secret")


def case_file(project: Path, name: str) -> Path:
    return project / "tests" / "flux" / f"{name}.json"


def test_add_writes_a_readable_case_with_the_scenario(saved: Path, incident: Incident) -> None:
    case = json.loads(case_file(saved, "webhook_before_signup").read_text())

    assert case["flux_case"] == 1
    assert case["made_by"].startswith("Flux ")
    assert case["source"]["execution_id"] == incident.failed_webhook
    assert case["expect"] == {"status": "200"}
    roles = [(s["role"], s["function"]) for s in case["steps"]]
    # The signup that shares the customer id runs first, so a fix there shows in the webhook.
    assert roles == [("setup", "signup"), ("subject", "stripe_webhook")]
    webhook = case["steps"][1]
    assert webhook["stripe"] == {"verified": True, "error": None}
    assert webhook["request"]["headers"]["stripe-signature"] == "[redacted]"
    assert "steps.1.request.headers.stripe-signature" in case["redacted"]
    assert webhook["values"], "the time the webhook took from ctx is kept"


def test_the_incident_case_fails_in_a_fresh_clone_then_passes_after_the_fix(
    saved: Path, tmp_path: Path
) -> None:
    project = clone(saved, tmp_path)
    path = case_file(project, "webhook_before_signup")

    red = flux("test", str(path), "-p", str(project))

    assert red.code == 1, red.out + red.err
    lines = red.out.splitlines()
    assert lines[0].startswith("  ✗  webhook_before_signup  POST /stripe_webhook  500  ")
    assert "     status  expected 200, got 500" in lines
    assert any(ROW_NOT_FOUND in line and "stripe_webhook.py" in line for line in lines)
    assert "     after     signup 201" in lines
    assert lines[-1] == "  1 case · 0 passed · 1 failed  ✗"
    assert not (project / ".flux").exists(), "running cases creates no recorder or app data"

    fix_signup(project)
    green = flux("test", str(path), "-p", str(project))

    assert green.code == 0, green.out + green.err
    assert green.out.splitlines()[0].startswith(
        "  ✔  webhook_before_signup  POST /stripe_webhook  200"
    )


def test_a_recorded_success_stays_green_and_a_new_response_shape_turns_it_red(
    saved: Path, tmp_path: Path
) -> None:
    project = clone(saved, tmp_path)
    path = case_file(project, "create_user")
    expect = json.loads(path.read_text())["expect"]
    assert expect["status"] == "201"
    assert [m["table"] for m in expect["mutations"]] == ["users"]

    green = flux("test", str(path), "-p", str(project))
    assert green.code == 0, green.out + green.err

    handler = project / "functions" / "create_user.py"
    handler.write_text(handler.read_text().replace('{"id": user.id}', '{"user": {"id": user.id}}'))
    red = flux("test", str(path), "-p", str(project))

    assert red.code == 1
    lines = red.out.splitlines()
    assert '     body.id  expected "<users id 1>", missing' in lines
    assert '     body.user  unexpected {"id": "<users id 1>"}' in lines


def test_a_job_case_follows_the_ids_its_setup_generated(saved: Path, tmp_path: Path) -> None:
    """The onboarding job was given the id signup's insert got; in the fresh database signup's
    insert gets another, and the job's input follows it."""
    project = clone(saved, tmp_path)
    result = flux("test", str(case_file(project, "onboarding_job")), "-p", str(project))
    assert result.code == 0, result.out


def test_junit_and_json_reports(saved: Path, tmp_path: Path) -> None:
    project = clone(saved, tmp_path)
    junit = tmp_path / "reports" / "flux.xml"

    result = flux("test", "--junit-xml", str(junit), "--json", "-p", str(project))

    assert result.code == 1
    report = result.json()
    assert report["summary"] == {"cases": 3, "passed": 2, "failed": 1, "errors": 0}
    failed = next(r for r in report["results"] if r["outcome"] == "failed")
    assert failed["name"] == "webhook_before_signup"
    assert failed["status"] == "500"
    assert failed["differences"][0]["text"] == "status  expected 200, got 500"
    root = ET.parse(junit).getroot()
    [suite] = root.findall("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("3", "1", "0")
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert set(cases) == {"create_user", "onboarding_job", "webhook_before_signup"}
    failure = cases["webhook_before_signup"].find("failure")
    assert failure is not None
    assert failure.get("message") == "status  expected 200, got 500"
    assert ROW_NOT_FOUND in (failure.text or "")
    assert cases["webhook_before_signup"].get("file") == "tests/flux/webhook_before_signup.json"
    assert cases["create_user"].find("failure") is None


def test_cases_that_cannot_run_are_reported_and_the_run_goes_on(
    saved: Path, tmp_path: Path
) -> None:
    project = clone(saved, tmp_path)
    cases = project / "tests" / "flux"
    (project / "functions" / "create_user.py").unlink()
    (cases / "broken.json").write_text('{\n  "flux_case": 1,\n  "steps": [\n    {,\n  ]\n}\n')
    newer = json.loads((cases / "onboarding_job.json").read_text())
    newer.update(flux_case=99, made_by="Flux 9.9.0")
    (cases / "from_the_future.json").write_text(json.dumps(newer, indent=2))

    result = flux("test", "-p", str(project))

    assert result.code == 1
    out = result.out
    assert "  !  tests/flux/broken.json  could not run" in out
    assert "tests/flux/broken.json:4: not valid JSON" in out
    assert (
        "from_the_future.json:2: made by Flux 9.9.0 (case format 99); Flux 0.1.0 reads case "
        "format 1 to 1: upgrade Flux to run it"
    ) in out
    assert "function create_user no longer exists (functions/create_user.py)" in out
    assert "✔  onboarding_job" in out
    assert out.splitlines()[-1] == "  5 cases · 1 passed · 1 failed · 3 could not run  ✗"


def test_migrations_that_no_longer_apply_fail_every_case_with_the_reason(
    saved: Path, tmp_path: Path
) -> None:
    project = clone(saved, tmp_path)
    (project / "migrations" / "999_broken.sql").write_text("ALTER TABLE nowhere ADD x TEXT;")

    result = flux("test", "--json", "-p", str(project))

    assert result.code == 1
    reasons = {r["reason"] for r in result.json()["results"]}
    assert len(reasons) == 1
    [reason] = reasons
    assert reason.startswith("the migrations no longer apply: migration 999_broken.sql failed")


def test_a_case_written_by_an_older_flux_loads(saved: Path, tmp_path: Path) -> None:
    """The first format's optional fields may be missing; what remains still runs."""
    project = clone(saved, tmp_path)
    path = case_file(project, "create_user")
    case = json.loads(path.read_text())
    for key in ("noise", "redacted", "source", "made_by", "rows"):
        case.pop(key)
    for step in case["steps"]:
        step.pop("inserted")
    path.write_text(json.dumps(case))

    result = flux("test", str(path), "-p", str(project))

    assert result.code == 0, result.out


def test_add_refuses_bad_input_with_one_line(saved: Path, incident: Incident) -> None:
    bad = flux("test", "add", "ffffffff", "-p", str(saved))
    assert bad.code == 1
    assert bad.err.startswith("flux: ") and "\n" not in bad.err.strip()
    expect = flux("test", "add", "ffffffff", "--expect", "colour=red", "-p", str(saved))
    assert expect.code == 1
    assert expect.err.startswith("flux: bad --expect 'colour=red'")
    exists = flux(
        "test", "add", incident.validation_error, "--name", "create_user", "-p", str(saved)
    )
    assert exists.code == 1
    assert exists.err == (
        "flux: tests/flux/create_user.json already exists: pass --force to replace it, or --name\n"
    )
    missing = flux("test", "nowhere.json", "-p", str(saved))
    assert missing.err == "flux: no such case file or folder: nowhere.json\n"
    nowhere = flux("test", "-p", str(saved / "nowhere"))
    assert nowhere.err == f"flux: no project folder at {saved / 'nowhere'}\n"


def test_a_handler_that_reaches_the_network_outside_ctx_http_fails_its_case(
    saved: Path, tmp_path: Path
) -> None:
    project = clone(saved, tmp_path)
    handler = project / "functions" / "create_user.py"
    handler.write_text(
        "import httpx\n"
        + handler.read_text().replace(
            "    user = await ctx.db.insert(",
            "    async with httpx.AsyncClient() as client:\n"
            '        await client.get("http://198.51.100.7/audit")\n'
            "    user = await ctx.db.insert(",
        )
    )

    result = flux("test", str(case_file(project, "create_user")), "-p", str(project))

    assert result.code == 1
    assert "     status  expected 201, got 500" in result.out
    lines = result.out.splitlines()
    assert "     network  unexpected 198.51.100.7:80 (a connection outside ctx.http)" in lines


def test_noise_fields_listed_in_the_case_are_ignored(saved: Path, tmp_path: Path) -> None:
    """A field that changes every run (here a random nonce) turns the case red until the case
    lists it as noise, as Keploy's noise fields do."""
    project = clone(saved, tmp_path)
    handler = project / "functions" / "create_user.py"
    handler.write_text(
        "import secrets\n"
        + handler.read_text().replace(
            '{"id": user.id}', '{"id": user.id, "nonce": secrets.token_hex(8)}'
        )
    )
    path = case_file(project, "create_user")
    case = json.loads(path.read_text())
    case["expect"]["body"]["nonce"] = "recorded-nonce"
    path.write_text(json.dumps(case, indent=2))

    red = flux("test", str(path), "-p", str(project))
    assert red.code == 1
    assert any(
        line.startswith('     body.nonce  expected "recorded-nonce", got "')
        for line in red.out.splitlines()
    )

    case["noise"]["fields"] = ["body.nonce"]
    path.write_text(json.dumps(case, indent=2))
    green = flux("test", str(path), "-p", str(project))
    assert green.code == 0, green.out


def test_setup_steps_are_the_newest_sharing_a_key_within_the_lookback(
    saved: Path, incident: Incident, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The successful webhook shares `cus_ABC` with the signup, the failed webhook and the
    confirmation before it; with room for two, the two newest run first."""
    saved = shutil.copytree(saved, tmp_path / "shop")  # its recorder too; other tests count cases
    monkeypatch.setattr("flux_lsp.replay.capture.SETUP_LIMIT", 2)
    result = flux("test", "add", incident.good_webhook, "--name", "two", "-p", str(saved))
    assert result.code == 0, result.err
    case = json.loads(case_file(saved, "two").read_text())
    assert [s["function"] for s in case["steps"]] == [
        "stripe_webhook",
        "confirm_email",
        "stripe_webhook",
    ]
    assert case["steps"][0]["execution_id"] == incident.failed_webhook
    assert case["source"]["setup_dropped"] == 1
    assert "    setup     … 1 earlier ones sharing a key left out (the newest 2 run first)" in (
        result.out.splitlines()
    )

    alone = flux(
        "test",
        "add",
        incident.failed_webhook,
        "--lookback",
        "0",
        "--name",
        "alone",
        "--expect",
        "status=200",
        "-p",
        str(saved),
    )
    assert alone.code == 0, alone.err
    steps = json.loads(case_file(saved, "alone").read_text())["steps"]
    assert [s["role"] for s in steps] == ["subject"]
    bad = flux("test", "add", incident.failed_webhook, "--lookback", "soon", "-p", str(saved))
    assert bad.err == "flux: bad --lookback 'soon': a duration such as 10m, 1h or 0\n"
