"""`flux why`: the seed's root-cause report for each kind of failure."""

from __future__ import annotations

from flux_lsp.model import short_id
from tests.cli.flux import flux
from tests.cli.incident import Incident


def _line_of(incident: Incident, function: str, needle: str) -> int:
    source = (incident.project / "functions" / f"{function}.py").read_text().splitlines()
    return next(i for i, text in enumerate(source, start=1) if needle in text)


LABELS = ("ROOT CAUSE", "LOCATION", "INPUT", "DATA CHANGES", "SUGGESTION")


def _sections(out: str) -> dict[str, list[str]]:
    """The report's lines under the label that starts their section (layout taken away)."""
    sections: dict[str, list[str]] = {}
    current = ""
    for line in out.splitlines():
        text = line.strip()
        label = next((name for name in LABELS if text.startswith(name + " ")), None)
        if label is not None:
            current, text = label, text[len(label) :].strip()
        sections.setdefault(current, []).append(text)
    return sections


def test_why_the_failing_webhook_names_the_cause_and_the_later_signup(incident: Incident) -> None:
    r = flux("why", incident.failed_webhook[:8], "-p", str(incident.project))
    assert r.code == 0, r.err
    s = _sections(r.out)
    assert list(s) == ["ROOT CAUSE", "LOCATION", "INPUT", "DATA CHANGES", "SUGGESTION"]
    assert s["ROOT CAUSE"][0] == "Row not found: subscriptions WHERE customer_id = 'cus_ABC'"
    later = s["ROOT CAUSE"][1]
    assert later.startswith("The subscriptions row (customer_id = 'cus_ABC') was created ")
    assert later.endswith(f"later by confirm_email ({short_id(incident.confirm_email)})")
    line = _line_of(incident, "stripe_webhook", "await ctx.db.update(")
    assert s["LOCATION"][0].startswith(f"stripe_webhook.py:{line} ")
    assert s["INPUT"] == [
        "Stripe event: payment_intent.succeeded",
        "customer_id: cus_ABC  amount: 4900",
    ]
    assert s["DATA CHANGES"] == ["subscriptions  UPDATE  0 rows affected"]
    assert s["SUGGESTION"][0] == "→ Customer row does not exist at webhook time"
    assert s["SUGGESTION"][1].startswith("confirm_email creates it ")


def test_why_json_carries_the_related_execution(incident: Incident) -> None:
    r = flux("why", f"req:{incident.failed_webhook[:8]}", "-p", str(incident.project), "--json")
    assert r.code == 0, r.err
    doc = r.json()
    assert doc["root_cause"]["rule"] == "row_not_found"
    assert doc["root_cause"]["error_type"] == "RowNotFound"
    location = doc["location"]
    assert location["file"] == "functions/stripe_webhook.py"
    # the whole call, as the editor underlines it: `await ctx.db.update(` to its `)`
    assert (location["line"], location["col"]) == (12, 8)
    assert (location["end_line"], location["end_col"]) == (16, 9)
    assert doc["input"]["heading"] == "Stripe event: payment_intent.succeeded"
    assert doc["input"]["fields"] == [
        {"name": "customer_id", "value": "cus_ABC", "note": None},
        {"name": "amount", "value": 4900, "note": None},
    ]
    [change] = doc["data_changes"]
    assert (change["table"], change["op"], change["rows_affected"]) == (
        "subscriptions",
        "UPDATE",
        0,
    )
    assert change["where"] == {"customer_id": "cus_ABC"}
    [related] = doc["related"]
    assert related["relation"] == "created_later"
    assert related["execution_id"] == incident.confirm_email
    assert related["function"] == "confirm_email" and related["pk"] == "s_1"
    assert 0 < related["delay_seconds"] < 60


def test_why_validation_error_marks_the_missing_field(incident: Incident) -> None:
    r = flux("why", incident.validation_error, "-p", str(incident.project))
    assert r.code == 0, r.err
    s = _sections(r.out)
    assert s["ROOT CAUSE"] == ["Validation error: email required"]
    line = _line_of(incident, "create_user", '"email required"')
    assert s["LOCATION"][0].startswith(f"create_user.py:{line} ")
    assert s["INPUT"] == ["{ name: 'Alice' }   ← email was missing"]
    assert s["SUGGESTION"][0] == "→ Add client-side validation or return clear error message"
    assert "DATA CHANGES" not in s


def test_why_exception_in_user_code_points_at_the_expression_and_the_input(
    incident: Incident,
) -> None:
    r = flux("why", incident.exception, "-p", str(incident.project))
    assert r.code == 0, r.err
    s = _sections(r.out)
    assert s["ROOT CAUSE"] == ["ZeroDivisionError: division by zero"]
    assert s["LOCATION"] == ['divide.py:4   share = total / body["people"]']
    assert s["INPUT"] == ["{ total: 10, people: 0 }", "← people is 0 (zero)"]
    assert s["SUGGESTION"][0].startswith("→ Guard the division")


def test_why_bad_signature(incident: Incident) -> None:
    r = flux("why", incident.bad_signature, "-p", str(incident.project), "--json")
    assert r.code == 0, r.err
    doc = r.json()
    assert doc["root_cause"]["rule"] == "bad_signature"
    assert "invalid Stripe signature" in doc["root_cause"]["summary"]
    assert "webhook signing secret" in doc["suggestions"][0]


def test_why_a_successful_execution_says_there_was_no_error(incident: Incident) -> None:
    r = flux("why", incident.good_webhook, "-p", str(incident.project))
    assert r.code == 0, r.err
    s = _sections(r.out)
    assert s["ROOT CAUSE"] == ["No error: stripe_webhook answered 200"]
    assert s["DATA CHANGES"] == [
        "subscriptions  UPDATE  1 row affected",
        "email_sends  INSERT  1 row affected",
    ]
