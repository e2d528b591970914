"""`flux tail`: the latest executions with their error or data changes, filtered."""

from __future__ import annotations

from flux_lsp.model import short_id
from flux_lsp.project import Project
from tests.cli.flux import flux
from tests.cli.incident import Incident


def test_tail_filters_to_the_failing_webhook_as_the_seed_shows(incident: Incident) -> None:
    r = flux(
        "tail", "-p", str(incident.project),
        "--filter", "path=/stripe_webhook", "--filter", "status=500",
    )  # fmt: skip
    assert r.code == 0, r.err
    lines = [line for line in r.out.splitlines() if line.strip()]
    assert len(lines) == 2
    head, error = lines
    assert head.startswith("  POST /stripe_webhook  500  ")
    assert f"ms  {short_id(incident.failed_webhook)}  " in head
    assert error == "     └─ Error: Row not found: subscriptions WHERE customer_id = 'cus_ABC'"


def test_tail_shows_mutations_and_client_errors(incident: Incident) -> None:
    r = flux("tail", "--recorder", str(incident.recorder), "--filter", "function=create_user")
    assert r.code == 0, r.err
    text = r.out
    created = text.index(short_id(incident.created_user))
    assert "     users.id=u_1  insert" in text[created:]
    assert "POST /create_user  400  " in text
    assert "     ← Error: email required" in text


def test_tail_lists_jobs_and_limits_newest_oldest_first(incident: Incident) -> None:
    r = flux("tail", "-p", str(incident.project), "--filter", "kind=job")
    assert r.code == 0, r.err
    assert "  JOB  send_onboarding_email  done  " in r.out
    assert short_id(incident.job) in r.out
    r = flux("tail", "-p", str(incident.project), "--limit", "2", "--json")
    ids = [e["id"] for e in r.json()["executions"]]
    assert ids == incident.extra[-2:]


def test_tail_json_document(incident: Incident) -> None:
    r = flux("tail", "-p", str(incident.project), "--json", "--filter", "status=failed")
    assert r.code == 0, r.err
    executions = r.json()["executions"]
    assert {e["id"] for e in executions} == {incident.failed_webhook, incident.exception}
    webhook = next(e for e in executions if e["id"] == incident.failed_webhook)
    assert webhook["target"] == "POST /stripe_webhook"
    assert webhook["status"] == "500" and webhook["outcome"] == "failed"
    assert webhook["short_id"] == short_id(incident.failed_webhook)
    assert webhook["error"] == {
        "type": "RowNotFound",
        "message": "Row not found: subscriptions WHERE customer_id = 'cus_ABC'",
        "location": "stripe_webhook.py:12",
    }
    assert webhook["changes"] == ["subscriptions  update  0 rows (customer_id=cus_ABC)"]
    assert webhook["code_version"] == Project.load(incident.project).code_version()


def test_tail_since_and_empty_result(incident: Incident) -> None:
    r = flux("tail", "-p", str(incident.project), "--since", "1h", "--filter", "kind=job")
    assert r.code == 0 and short_id(incident.job) in r.out
    r = flux("tail", "-p", str(incident.project), "--filter", "function=nobody")
    assert r.code == 0
    assert r.out.strip() == "No executions match."
