"""The admin API against its own OpenAPI document: schemathesis finds no 5xx, and every
endpoint it lists answers 401 without the token or with a wrong one."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from flux_lsp.serve.openapi import openapi_document
from tests.harness import copy_shop
from tests.serve.helpers import TOKEN, ServeProcess


@pytest.fixture(scope="module")
def server(server: ServeProcess) -> ServeProcess:
    """The shared server (conftest.py), with one recorded execution."""
    with server.client() as client:
        assert client.post("/create_user", json={"email": "a@b.c"}).status_code == 201
    return server


def endpoints() -> list[tuple[str, str]]:
    out = []
    for path, operations in openapi_document()["paths"].items():
        concrete = path.replace("{ident}", "0123abcd")
        out.extend((method.upper(), concrete) for method in operations)
    return out


WRONG = {
    "no header": {},
    "wrong token": {"authorization": "Bearer not-the-token"},
    "token prefix": {"authorization": f"Bearer {TOKEN[:-1]}"},
    "token with suffix": {"authorization": f"Bearer {TOKEN}x"},
    "basic scheme": {"authorization": f"Basic {TOKEN}"},
    "bare token": {"authorization": TOKEN},
}


def test_every_admin_endpoint_needs_the_token(server: ServeProcess) -> None:
    listed = endpoints()
    assert len(listed) >= 12
    listed.append(("GET", "/_flux/no-such-endpoint"))
    with httpx.Client(base_url=server.url, timeout=30) as client:
        before = client.get("/_flux/deployments", headers={"authorization": f"Bearer {TOKEN}"})
        for method, path in listed:
            for case, headers in WRONG.items():
                r = client.request(method, path, headers=headers, content=b"x")
                assert r.status_code == 401, (method, path, case)
                assert r.headers["www-authenticate"] == "Bearer"
                assert r.json()["kind"] == "Unauthorized"
        after = client.get("/_flux/deployments", headers={"authorization": f"Bearer {TOKEN}"})
        assert after.json() == before.json()  # no rollback, no deploy happened
        ok = client.get("/_flux/openapi.json", headers={"authorization": f"Bearer {TOKEN}"})
        assert ok.status_code == 200
        assert ok.json() == openapi_document()


def test_admin_api_is_off_without_a_token(tmp_path: Path) -> None:
    project = copy_shop(tmp_path)
    with ServeProcess(project, token=None) as server, httpx.Client(base_url=server.url) as client:
        assert "admin API off: set FLUX_TOKEN" in server.output()
        r = client.post("/_flux/deploy", headers={"authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 404
        assert r.json()["kind"] == "AdminDisabled"
        assert client.post("/create_user", json={"email": "a@b.c"}).status_code == 201


def test_schemathesis_finds_no_server_error(server: ServeProcess, tmp_path: Path) -> None:
    cli = shutil.which("schemathesis") or str(Path(sys.executable).parent / "schemathesis")
    result = subprocess.run(
        [
            cli,
            "run",
            f"{server.url}/_flux/openapi.json",
            "--header",
            f"Authorization: Bearer {TOKEN}",
            "--checks",
            "not_a_server_error",
            "--max-examples",
            "8",
            "--exclude-path",
            "/_flux/tail",
            "--workers",
            "1",
            "--seed",
            "8",
            "--request-timeout",
            "20",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    counts = re.search(r"(\d+) generated, (\d+) passed", result.stdout)
    assert counts and counts.group(1) == counts.group(2) and int(counts.group(1)) > 100
    assert "Tested: 13" in result.stdout  # every operation, the two replay routes included
