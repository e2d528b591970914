"""`flux state history`: the mutation log of a row or of one execution."""

from __future__ import annotations

from flux_lsp.model import short_id
from tests.cli.flux import flux
from tests.cli.incident import Incident


def test_history_of_a_row_as_the_seed_shows(incident: Incident) -> None:
    r = flux("state", "history", "users", "--id", "u_1", "-p", str(incident.project))
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert lines[0] == "  users id=u_1  (1 mutation)"
    assert lines[1].endswith(
        f"  INSERT  email=a@b.com, name=Alice  {short_id(incident.created_user)}"
    )


def test_history_of_a_row_across_executions_oldest_first(incident: Incident) -> None:
    r = flux("state", "history", "subscriptions", "--id", "s_1", "-p", str(incident.project))
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert lines[0] == "  subscriptions id=s_1  (2 mutations)"
    assert "INSERT" in lines[1] and short_id(incident.confirm_email) in lines[1]
    assert "UPDATE  status: pending → active" in lines[2]
    assert short_id(incident.good_webhook) in lines[2]


def test_history_of_an_execution(incident: Incident) -> None:
    r = flux(
        "state", "history", "email_sends", "--filter", f"job={incident.job[:8]}",
        "-p", str(incident.project), "--json",
    )  # fmt: skip
    assert r.code == 0, r.err
    doc = r.json()
    assert doc["execution"]["function"] == "send_onboarding_email"
    [entry] = doc["entries"]
    assert entry["op"] == "INSERT" and entry["execution_id"] == incident.job
    assert entry["changes"]["template"] == [None, "welcome"]


def test_empty_history_says_so_in_words(incident: Incident) -> None:
    r = flux(
        "state", "history", "subscriptions", "--filter", f"req={incident.job}",
        "-p", str(incident.project),
    )  # fmt: skip
    assert r.code == 0, r.err
    assert r.out.splitlines() == [
        f"  subscriptions by {short_id(incident.job)}  (0 mutations)",
        f"  No rows — {short_id(incident.job)} (send_onboarding_email) wrote nothing to "
        "subscriptions",
    ]
    r = flux("state", "history", "users", "--id", "u_404", "-p", str(incident.project))
    assert "No rows — no mutation of users id=u_404 is recorded" in r.out
