"""`flux status`: where the recorder is, how big, how many executions, recording problems."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import psycopg
import pytest

from flux_lsp.project import Project, is_database_url
from flux_lsp.recorder import postgres_store
from flux_lsp.recorder.postgres_schema import SCHEMA
from tests.cli.flux import flux
from tests.cli.incident import Incident


def test_status_reports_the_recorder(incident: Incident) -> None:
    r = flux("status", "-p", str(incident.project))
    assert r.code == 0, r.err
    rows = {line[2:15].strip(): line[15:] for line in r.out.splitlines()}
    assert rows["Recorder"].startswith(str(incident.recorder))
    assert rows["Executions"] == "17"
    assert rows["Dropped"] == "0" and rows["Problem"] == "none"
    doc = flux("status", "-p", str(incident.project), "--json").json()
    assert doc["executions"] == 17 and doc["healthy"] is True
    assert doc["oldest"] <= doc["newest"] and doc["size_bytes"] > 0


def test_status_shows_dropped_records_and_the_writer_problem(
    incident: Incident, tmp_path: Path
) -> None:
    project = tmp_path / "shop"
    shutil.copytree(incident.project, project)
    health = Project.load(project).recorder_health_path
    health.write_text(
        json.dumps({"updated_at": 1.0, "recorded": 17, "dropped": 3, "problem": "disk full"})
    )
    r = flux("status", "-p", str(project))
    assert r.code == 0, r.err
    assert "  Dropped      3" in r.out and "  Problem      disk full" in r.out
    doc = flux("status", "-p", str(project), "--json").json()
    assert (doc["dropped"], doc["problem"], doc["healthy"]) == (3, "disk full", False)


def test_status_past_the_exact_count_estimates_on_postgresql_and_counts_a_file(
    incident: Incident, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past `EXACT_COUNT_BELOW` a PostgreSQL recorder answers from its statistics (here made
    current by ANALYZE), marked as an estimate; a file is still counted."""
    monkeypatch.setattr(postgres_store, "EXACT_COUNT_BELOW", 0)
    database = is_database_url(incident.recorder)
    if database:
        with psycopg.connect(incident.recorder, autocommit=True) as conn:
            conn.execute(f"ANALYZE {SCHEMA}.executions")
    doc = flux("status", "--recorder", incident.recorder, "--json").json()
    assert (doc["executions"], doc["executions_estimated"]) == (17, database)
    r = flux("status", "--recorder", incident.recorder)
    rows = {line[2:15].strip(): line[15:] for line in r.out.splitlines()}
    if database:
        assert rows["Executions"] == "≈ 17  (estimated from PostgreSQL's statistics)"
    else:
        assert rows["Executions"] == "17"
    assert doc["oldest"] <= doc["newest"]
