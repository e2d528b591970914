"""The gateway serves functions and records each execution completely."""

from __future__ import annotations

from pathlib import Path

from flux_lsp.recorder.query import ExecutionQuery
from tests.harness import FluxApp, write_function

BOOM = """\
async def handler(req, ctx):
    body = await req.json()
    total = body["amount"]
    ratio = total / body["count"]
    return {"ratio": ratio}
"""


async def test_insert_is_recorded_with_its_mutation(shop: Path) -> None:
    async with FluxApp(shop) as flux:
        r = await flux.client.post("/create_user", json={"email": "a@b.com", "name": "Alice"})
        assert r.status_code == 201
        request_id = r.headers["x-flux-request-id"]
        [e] = await flux.recorded(request_id)
    assert e.status == "201" and e.kind == "http" and e.function == "create_user"
    assert e.method == "POST" and e.path == "/create_user"
    assert e.request["body"] == {"email": "a@b.com", "name": "Alice"}
    assert e.response["body"] == {"id": "u_1"}
    assert e.code_version and e.duration_ms > 0
    [m] = e.mutations
    assert (m.table, m.op, m.pk, m.rows_affected, m.before) == ("users", "insert", "u_1", 1, None)
    assert m.after is not None and m.after["email"] == "a@b.com"
    labels = [s.label for s in e.spans]
    assert labels == ["gateway", "create_user", "db.insert(users)", "response"]
    insert_span = e.spans[2]
    assert insert_span.file == "functions/create_user.py"
    source = (shop / "functions/create_user.py").read_text().splitlines()
    assert "ctx.db.insert" in source[insert_span.line - 1]


async def test_returned_validation_error_points_at_the_return(shop: Path) -> None:
    async with FluxApp(shop) as flux:
        r = await flux.client.post("/create_user", json={"name": "Alice"})
        assert r.status_code == 400
        assert r.json() == {"error": "email required"}
        [e] = await flux.recorded(r.headers["x-flux-request-id"])
    assert e.status == "400"
    assert e.error is not None
    assert (e.error.type, e.error.message) == ("ValidationError", "email required")
    loc = e.error.location
    assert loc is not None and loc.file == "functions/create_user.py"
    assert loc.source_line is not None and "email required" in loc.source_line


async def test_exception_is_a_500_pointing_at_the_raising_expression(shop: Path) -> None:
    write_function(shop, "boom", BOOM)
    async with FluxApp(shop) as flux:
        r = await flux.client.post("/boom", json={"amount": 10, "count": 0})
        assert r.status_code == 500
        body = r.json()
        assert body["error"] == "division by zero"
        assert body["request_id"] == r.headers["x-flux-request-id"]
        [e] = await flux.recorded(body["request_id"])
    assert e.error is not None and e.error.type == "ZeroDivisionError"
    loc = e.error.location
    assert loc is not None
    assert (loc.file, loc.line, loc.function) == ("functions/boom.py", 4, "handler")
    line = BOOM.splitlines()[3]
    assert line[loc.col : loc.end_col] == 'total / body["count"]'
    assert loc.context[0] == BOOM.splitlines()[0] and loc.context_start == 1
    assert e.error.locals["total"] == "10"
    assert [s.status for s in e.spans if s.name in ("function", "response")] == ["error", "skipped"]


async def test_malformed_json_is_a_recorded_400(shop: Path) -> None:
    async with FluxApp(shop) as flux:
        r = await flux.client.post(
            "/create_user", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert r.status_code == 400
        assert r.json()["error"].startswith("malformed JSON body")
        [e] = await flux.recorded(r.headers["x-flux-request-id"])
    assert e.status == "400" and e.request["body"] == "{not json"
    assert e.error is not None and e.error.location is not None
    assert e.error.location.line == 7


async def test_unknown_and_invalid_function_names_are_404(shop: Path) -> None:
    async with FluxApp(shop) as flux:
        for path in ("/nope", "/create_user.py", "/a/b", "/%2e%2e%2fetc", "/__init__x!"):
            r = await flux.client.get(path)
            assert r.status_code == 404, path
            assert "error" in r.json()
            ident = r.headers["x-flux-request-id"]
            assert len(ident) == 16 and r.json()["request_id"] == ident
        store = await flux.store()
        assert await store.executions(ExecutionQuery()) == []
        await store.close()


async def test_dict_return_is_json_and_any_method_reaches_the_handler(shop: Path) -> None:
    write_function(shop, "echo", "async def handler(req, ctx):\n    return {'m': req.method}\n")
    async with FluxApp(shop) as flux:
        for method in ("GET", "POST", "PUT", "DELETE", "PATCH"):
            r = await flux.client.request(method, "/echo")
            assert r.status_code == 200 and r.json() == {"m": method}
            assert r.headers["content-type"] == "application/json"


async def test_a_broken_function_file_is_a_clear_500(shop: Path) -> None:
    write_function(shop, "broken", "async def handler(req, ctx)\n    return 1\n")
    async with FluxApp(shop) as flux:
        r = await flux.client.post("/broken")
        assert r.status_code == 500
        assert "broken.py:1: syntax error" in r.json()["error"]
