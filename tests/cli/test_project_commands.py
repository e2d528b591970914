"""`flux init` scaffolds a project that serves as it is; `flux functions` lists what it serves."""

from __future__ import annotations

import json
import time
from pathlib import Path

from flux_lsp.cli.scaffold import SCAFFOLD
from flux_lsp.project import Project
from tests.serve.helpers import ServeProcess, flux


def wait_for_job(project: Path) -> dict[str, object]:
    deadline = time.monotonic() + 20
    while True:
        r = flux("tail", "--json", "--filter", "kind=job", "-p", str(project))
        assert r.returncode == 0, r.stderr
        jobs = json.loads(r.stdout)["executions"]
        if jobs:
            job: dict[str, object] = jobs[-1]
            return job
        assert time.monotonic() < deadline, "the job did not run"
        time.sleep(0.2)


def test_init_serve_and_list_functions(tmp_path: Path) -> None:
    project = tmp_path / "notes"
    r = flux("init", str(project))
    assert r.returncode == 0, r.stderr
    for rel in SCAFFOLD:
        assert (project / rel).is_file(), rel
    assert ".flux/" in (project / ".gitignore").read_text().splitlines()
    assert ".env" in (project / ".gitignore").read_text().splitlines()
    assert "#" in (project / "flux.toml").read_text()
    Project.load(project)  # the commented flux.toml is valid

    with ServeProcess(project) as server, server.client() as client:
        created = client.post("/create_note", json={"text": "hello flux world"})
        assert created.status_code == 201, created.text
        job = wait_for_job(project)
    assert (job["function"], job["status"]) == ("count_words", "done")

    r = flux("functions", "--json", "-p", str(project))
    assert r.returncode == 0, r.stderr
    catalog = json.loads(r.stdout)
    assert catalog["notes"] == []
    assert catalog["functions"] == [
        {
            "name": "count_words",
            "kind": "job",
            "route": None,
            "trigger": "queue",
            "file": "functions/count_words.py",
            "line": 4,
            "loads": True,
            "error": None,
        },
        {
            "name": "create_note",
            "kind": "http",
            "route": "/create_note",
            "trigger": None,
            "file": "functions/create_note.py",
            "line": 6,
            "loads": True,
            "error": None,
        },
    ]


def test_init_refuses_to_overwrite(tmp_path: Path) -> None:
    (tmp_path / "flux.toml").write_text("# mine\n")
    r = flux("init", str(tmp_path))
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1 and "flux.toml" in r.stderr and "overwrite" in r.stderr
    assert (tmp_path / "flux.toml").read_text() == "# mine\n"
    assert not (tmp_path / "functions").exists()


def test_functions_lists_a_broken_function_with_its_line(tmp_path: Path) -> None:
    assert flux("init", str(tmp_path)).returncode == 0
    (tmp_path / "functions" / "broken.py").write_text("async def handler(req, ctx)\n    pass\n")
    r = flux("functions", "-p", str(tmp_path))
    assert r.returncode == 1
    row = next(line for line in r.stdout.splitlines() if line.strip().startswith("broken"))
    assert "functions/broken.py:1" in row and "does not load: syntax error" in row
    assert "create_note  HTTP /create_note" in r.stdout
