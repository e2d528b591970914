"""The OpenAPI 3.1 document of the admin API, served at `/_flux/openapi.json`.

It describes every admin endpoint — deploy, rollback, deployments, and the recorder read
API that `RemoteStore` uses — with its parameters, the bearer-token scheme, and the JSON
error body every 4xx carries. It is written out here rather than generated, so it says
exactly what the routes in `admin` and `recorder_api` accept.
"""

from __future__ import annotations

from typing import Any

from flux_lsp.recorder.remote_store import MAX_LIMIT

Doc = dict[str, Any]

_ERROR: Doc = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {"type": "string", "description": "One line saying what went wrong."},
        "kind": {"type": "string", "description": "Which error: UnknownExecution, ..."},
    },
}
_OBJECT: Doc = {"type": "object"}


def _json(schema: Doc, description: str = "OK") -> Doc:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _replay_post(summary: str, properties: Doc, required: list[str]) -> Doc:
    """A replay route: a JSON body in, JSON Lines events out (see `serve.replay_api`)."""
    body = {"type": "object", "properties": properties, "required": required}
    events = "JSON Lines: `plan`, `outcome` (a ReplayOutcome), then `report` or `error`."
    return {
        "post": {
            "summary": summary,
            "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
            "responses": {
                "200": {
                    "description": events,
                    "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
                },
                **_errors(400, 401, 404, 409, 422),
            },
        }
    }


def _errors(*codes: int) -> dict[str, Doc]:
    text = {
        400: "A parameter or the bundle is not acceptable.",
        401: "Missing or wrong bearer token.",
        404: "No such execution, or no recorder yet.",
        409: "An id prefix matches several executions, or nothing to roll back to.",
        413: "The bundle is larger than the server accepts.",
        422: "The recorder cannot be read.",
    }
    return {str(c): _json({"$ref": "#/components/schemas/Error"}, text[c]) for c in codes}


def _param(name: str, schema: Doc, description: str, required: bool = False) -> Doc:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "schema": schema,
        "description": description,
    }


_TIME: Doc = {"type": "number", "format": "double"}
_LIMIT: Doc = {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}
_TEXT: Doc = {"type": "string", "minLength": 1}


def _execution_filters() -> list[Doc]:
    return [
        _param("function", _TEXT, "Only this function."),
        _param("path", _TEXT, "Only this request path (`/stripe_webhook`)."),
        _param(
            "status",
            {"type": "string", "pattern": "^([0-9]+|[1-5]xx|done|failed)$"},
            "An exact status (`500`, `done`), a class (`5xx`) or `failed`.",
        ),
        _param("kind", {"type": "string", "enum": ["http", "job", "replay"]}, "Execution kind."),
        _param(
            "exclude_kind",
            {"type": "string", "enum": ["http", "job", "replay"]},
            "Leave out this kind (`flux tail` leaves out replays).",
        ),
        _param("since", _TIME, "Started at or after (epoch seconds)."),
        _param("until", _TIME, "Started before (epoch seconds)."),
        _param("parent_id", _TEXT, "Only children of this execution (jobs, replays)."),
        _param("error_file", _TEXT, "Only failures located in this file."),
        _param("limit", _LIMIT, "At most this many (no limit when left out)."),
        _param("newest_first", {"type": "boolean"}, "Order, newest first by default."),
    ]


def _list_of(key: str, items: Doc) -> Doc:
    """An answer that is one object holding the list `key`."""
    return _json(
        {
            "type": "object",
            "required": [key],
            "properties": {key: {"type": "array", "items": items}},
        }
    )


def _get(summary: str, params: list[Doc], ok: Doc, *errors: int) -> Doc:
    return {
        "get": {
            "summary": summary,
            "parameters": params,
            "responses": {"200": ok, **_errors(401, *errors)},
        }
    }


def openapi_document() -> Doc:
    """The document, as a JSON-ready dict."""
    execution_list = _list_of("executions", {"$ref": "#/components/schemas/Execution"})
    deploy_result = _json({"$ref": "#/components/schemas/DeployResult"})
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Flux admin API",
            "version": "1",
            "description": "Deploy to a `flux serve` server and read its recorder. Every "
            "endpoint needs `Authorization: Bearer <token>`.",
        },
        "security": [{"bearer": []}],
        "paths": {
            "/_flux/deploy": {
                "post": {
                    "summary": "Deploy a bundle (tar.gz of functions/, migrations/, "
                    "templates/, flux.toml); checked before anything changes.",
                    "parameters": [
                        _param(
                            "dry_run",
                            {"type": "boolean"},
                            "Only check the bundle and report the changes; deploy nothing.",
                        )
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/octet-stream": {
                                "schema": {"type": "string", "format": "binary"}
                            }
                        },
                    },
                    "responses": {"200": deploy_result, **_errors(400, 401, 413)},
                }
            },
            "/_flux/rollback": {
                "post": {
                    "summary": "Return to the deployment before the active one.",
                    "responses": {"200": deploy_result, **_errors(401, 409)},
                }
            },
            "/_flux/replay": _replay_post(
                "Replay one recorded execution in the server's sandbox, against the code it "
                "runs; the outcome and the report stream back.",
                {"id": {"type": "string", "description": "Execution id, `req:` id or prefix."}},
                ["id"],
            ),
            "/_flux/replay/window": _replay_post(
                "Replay every request recorded in [since, until) in the server's sandbox; "
                "a plan, each outcome as it ends, then the report stream back.",
                {
                    "since": _TIME,
                    "until": _TIME,
                    "filters": {
                        "type": "array",
                        "items": {"type": "string"},
                        "description": "Report only matching requests (`status=5xx`).",
                    },
                    "with_jobs": {"type": "boolean"},
                },
                ["since", "until"],
            ),
            "/_flux/deployments": _get(
                "The running code version and the kept deployments.", [], _json(_OBJECT)
            ),
            "/_flux/executions": _get(
                "Executions matching the tail filters.",
                _execution_filters(),
                execution_list,
                400,
                404,
                422,
            ),
            "/_flux/executions/export": _get(
                "Executions matching the filters as newline-delimited JSON, streamed.",
                _execution_filters(),
                {
                    "description": "One Execution per line.",
                    "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
                },
                400,
                404,
                422,
            ),
            "/_flux/executions/{ident}": {
                "get": {
                    "summary": "One execution by id or unique prefix (`req:` optional).",
                    "parameters": [
                        {
                            "name": "ident",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "minLength": 1},
                        }
                    ],
                    "responses": {
                        "200": _json({"$ref": "#/components/schemas/Execution"}),
                        **_errors(401, 404, 409, 422),
                    },
                }
            },
            "/_flux/mutations": _get(
                "Mutations oldest first, by table, primary key, execution and time.",
                [
                    _param("table", _TEXT, "Table name."),
                    _param("pk", _TEXT, "Primary key of the row."),
                    _param("execution_id", _TEXT, "The execution that made them."),
                    _param("since", _TIME, "At or after (epoch seconds)."),
                    _param("until", _TIME, "Before (epoch seconds)."),
                    _param("limit", _LIMIT, "At most this many (1000 by default)."),
                    _param(
                        "creations",
                        {"type": "boolean"},
                        "Only inserts, updates and replaces that recorded the row after.",
                    ),
                ],
                _list_of("mutations", _OBJECT),
                400,
                404,
                422,
            ),
            "/_flux/call_sites": _get(
                "The latest spans recorded at a line of user code, newest first.",
                [
                    _param("file", _TEXT, "File relative to the project.", required=True),
                    _param(
                        "line",
                        {"type": "integer", "minimum": 0, "maximum": 10_000_000},
                        "1-based line number.",
                        required=True,
                    ),
                    _param("since", _TIME, "At or after (epoch seconds)."),
                    _param("limit", _LIMIT, "At most this many (20 by default)."),
                ],
                _list_of("call_sites", _OBJECT),
                400,
                404,
                422,
            ),
            "/_flux/function_stats": _get(
                "Recent executions of one function, without spans or mutations.",
                [
                    _param("function", _TEXT, "The function.", required=True),
                    _param("since", _TIME, "At or after (epoch seconds)."),
                    _param("limit", _LIMIT, "At most this many (500 by default)."),
                ],
                execution_list,
                400,
                404,
                422,
            ),
            "/_flux/stats": _get("Recorder size, counts and health.", [], _json(_OBJECT), 404),
            "/_flux/change_token": _get(
                "A number that changes whenever new records are written.",
                [],
                _json(
                    {
                        "type": "object",
                        "required": ["token"],
                        "properties": {"token": {"type": "integer"}},
                    }
                ),
                404,
                422,
            ),
            "/_flux/tail": _get(
                "New executions matching the filters, as server-sent events (`execution`), "
                "resumable with Last-Event-ID; each stream ends after a while.",
                _execution_filters(),
                {
                    "description": "An event stream.",
                    "content": {"text/event-stream": {"schema": {"type": "string"}}},
                },
                400,
                404,
                422,
            ),
            "/_flux/openapi.json": _get("This document.", [], _json(_OBJECT)),
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": _ERROR,
                "Execution": {
                    "type": "object",
                    "required": ["id", "kind", "function", "status", "started_at"],
                    "properties": {
                        "id": {"type": "string"},
                        "kind": {"type": "string"},
                        "function": {"type": "string"},
                        "method": {"type": "string"},
                        "path": {"type": "string"},
                        "status": {"type": "string"},
                        "started_at": {"type": "number"},
                        "duration_ms": {"type": "number"},
                        "code_version": {"type": "string"},
                        "parent_id": {"type": ["string", "null"]},
                        "spans": {"type": "array", "items": _OBJECT},
                        "mutations": {"type": "array", "items": _OBJECT},
                    },
                },
                "DeployResult": {
                    "type": "object",
                    "required": ["id", "code_version", "changes"],
                    "properties": {
                        "id": {"type": "string"},
                        "code_version": {"type": "string"},
                        "previous_code_version": {"type": "string"},
                        "changes": {
                            "type": "object",
                            "properties": {
                                k: {"type": "array", "items": {"type": "string"}}
                                for k in ("added", "changed", "removed")
                            },
                        },
                        "migrations_applied": {"type": "array", "items": {"type": "string"}},
                        "rolled_back_from": {"type": ["string", "null"]},
                        "dry_run": {"type": "boolean"},
                    },
                },
            },
        },
    }
