"""`flux trace`, `flux trace debug` and `flux trace diff` on recorded executions."""

from __future__ import annotations

import re

from flux_lsp.model import short_id
from tests.cli.flux import flux
from tests.cli.incident import Incident


def test_trace_draws_the_job_as_the_seed_does(incident: Incident) -> None:
    r = flux("trace", incident.job[:8], "-p", str(incident.project))
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert lines[0].startswith(f"  {short_id(incident.job)}  JOB  send_onboarding_email  done  ")
    tree = [line for line in lines[2:] if line.strip()]
    labels = [re.sub(r"(\S)\s{2,}.*$", r"\1", line[2:]) for line in tree]
    assert labels == [
        "queue.dispatch",
        "└─ send_onboarding_email",
        "   ├─ db.query(users)",
        "   ├─ email.send",
        "   └─ response",
    ]
    assert "→ { email: 'c@d.com', name: null }" in tree[2]
    assert "→ { status: 'sent', provider: 'console'" in tree[3]
    assert tree[4].rstrip().endswith("done")


def test_trace_json_nests_spans(incident: Incident) -> None:
    r = flux("trace", "--json", incident.failed_webhook, "-p", str(incident.project))
    assert r.code == 0, r.err
    doc = r.json()
    assert doc["tree"]["label"] == "gateway"
    [function] = doc["tree"]["children"]
    assert function["label"] == "stripe_webhook" and function["status"] == "error"
    assert [c["label"] for c in function["children"]] == [
        "stripe.verify_webhook",
        "db.update(subscriptions)",
        "response",
    ]
    update = function["children"][1]
    assert update["file"] == "functions/stripe_webhook.py"
    assert update["result"] == "✗ Row not found: subscriptions WHERE customer_id = 'cus_ABC'"
    assert function["children"][2]["status"] == "skipped"


def test_trace_debug_steps_through_the_failing_webhook(incident: Incident) -> None:
    r = flux("trace", "debug", incident.failed_webhook, "-p", str(incident.project))
    assert r.code == 0, r.err
    steps = r.out.split("\n\n")[1:]
    gateway, function, response = (s.strip("\n") for s in steps[:3])
    assert gateway.splitlines()[:3] == [
        "  Step 1/3  gateway",
        "    Input:   POST /stripe_webhook",
        "    Output:  { event_type: 'payment_intent.succeeded', event_id: 'evt_1' }",
    ]
    assert gateway.splitlines()[3].startswith("    Time:    ")
    f = function.splitlines()
    assert f[0] == "  Step 2/3  stripe_webhook"
    assert f[1] == "    Input:   { customer_id: 'cus_ABC', amount: 4900 }"
    assert f[2] == "    Error:   Row not found: subscriptions WHERE customer_id = 'cus_ABC'"
    assert f[3].startswith("    At:      stripe_webhook.py:")
    assert f[-1].startswith("    Time:    ")
    assert response == "  Step 3/3  (skipped — upstream error)  response"


def test_trace_debug_json_steps(incident: Incident) -> None:
    r = flux("trace", "debug", "--json", incident.failed_webhook, "-p", str(incident.project))
    steps = r.json()["steps"]
    assert [(s["label"], s["status"], s["skipped"]) for s in steps] == [
        ("gateway", "ok", False),
        ("stripe_webhook", "error", False),
        ("response", "skipped", True),
    ]
    assert steps[2]["skip_reason"] == "upstream error"
    assert [c["label"] for c in steps[1]["calls"]] == [
        "stripe.verify_webhook",
        "db.update(subscriptions)",
    ]


def test_trace_diff_finds_where_the_webhooks_diverge(incident: Incident) -> None:
    r = flux(
        "trace", "diff", incident.good_webhook, incident.failed_webhook,
        "-p", str(incident.project),
    )  # fmt: skip
    assert r.code == 0, r.err
    out = r.out
    assert f"A  {short_id(incident.good_webhook)}  POST /stripe_webhook  200" in out
    assert f"B  {short_id(incident.failed_webhook)}  POST /stripe_webhook  500" in out
    assert "  Diverges at db.update(subscriptions)" in out
    assert "· status 200 → 500" in out
    rows = [line for line in out.splitlines() if line[2:4] in ("~ ", "- ", "+ ", "  ")]
    update = next(line for line in rows if line[4:].strip().startswith("db.update"))
    assert update.startswith("  ~ ")
    assert "status ok → error" in update and "rows affected 1 → 0" in update
    email = next(line for line in rows if line[4:].strip().startswith("email.send"))
    assert email.startswith("  - ") and "only in A" in email


def test_trace_diff_json(incident: Incident) -> None:
    r = flux(
        "trace", "diff", "--json", incident.good_webhook, incident.failed_webhook,
        "-p", str(incident.project),
    )  # fmt: skip
    doc = r.json()
    assert doc["diverges_at"] == "db.update(subscriptions)" and not doc["identical"]
    changes = {row["label"]: row["change"] for row in doc["rows"]}
    assert changes["email.send"] == "missing"
    assert changes["stripe.verify_webhook"] == "same"
    assert doc["data_changes"]["b"] == ["subscriptions  UPDATE  0 rows affected"]


def test_trace_diff_of_an_execution_with_itself_is_identical(incident: Incident) -> None:
    r = flux("trace", "diff", incident.job, incident.job, "-p", str(incident.project))
    assert r.code == 0, r.err
    assert "The two traces match" in r.out
