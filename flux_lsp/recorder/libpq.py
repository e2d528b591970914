"""A blocking PostgreSQL connection straight over libpq, for a command that asks a few questions.

`flux tail`, `why`, `trace`, `state history` and `status` on a PostgreSQL recorder connect, ask
a handful of queries and exit. Importing psycopg (its adapters, its errors, asyncio) was two
thirds of such a command's start, far more than connecting and asking. libpq is the library
psycopg itself drives (the copy its binary package ships, else the system's), so connection
strings, TLS, authentication and `PG…` environment variables behave as they do in psycopg.

Only what the recorder's reads need is here: parameters sent by their Python type as psycopg
sends them (None, bool, int, float, Decimal; a str untyped), results converted by their
column's type, and every failure raised as `PgError` with its SQLSTATE. When no libpq can be
loaded, `load()` returns None and the caller uses psycopg.

May import: the standard library only.
"""

from __future__ import annotations

import ctypes
import importlib.util
import json
import sys
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

CONNECTION_OK = 0
TUPLES_OK = 2
COMMAND_OK = 1
SQLSTATE_FIELD = ord("C")
MESSAGE_FIELD = ord("M")
"""The primary message alone, as psycopg's errors say it (without `ERROR:` and the hints)."""

BOOL, INT8, INT2, INT4, OID, FLOAT4, FLOAT8, NUMERIC, JSON, JSONB = (
    16, 20, 21, 23, 26, 700, 701, 1700, 114, 3802,
)  # fmt: skip
_INTEGERS = frozenset({INT8, INT2, INT4, OID})
_FLOATS = frozenset({FLOAT4, FLOAT8})


class PgError(Exception):
    """A failed connection or query: libpq's message, its SQLSTATE when the server gave one,
    and whether the connection is still usable."""

    def __init__(self, message: str, sqlstate: str | None = None, *, connected: bool = True):
        super().__init__(message)
        self.sqlstate = sqlstate
        self.connected = connected


_lib: ctypes.CDLL | None = None
_tried = False


def _candidates() -> list[str]:
    """libpq as psycopg's binary package ships it, then the system's."""
    found: list[str] = []
    try:
        spec = importlib.util.find_spec("psycopg_binary")  # locates, does not import
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            libs = Path(location).parent / "psycopg_binary.libs"
            found += [str(p) for p in sorted(libs.glob("libpq*.so*"))]
            found += [str(p) for p in sorted(libs.glob("libpq*.dylib"))]
    if sys.platform == "darwin":
        return [*found, "libpq.5.dylib", "libpq.dylib"]
    if sys.platform == "win32":
        return [*found, "libpq.dll"]
    return [*found, "libpq.so.5", "libpq.so"]


def load() -> ctypes.CDLL | None:
    """libpq with the signatures used here, or None when none can be loaded."""
    global _lib, _tried
    if _tried:
        return _lib
    _tried = True
    for name in _candidates():
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        _declare(lib)
        _lib = lib
        break
    return _lib


def _declare(lib: ctypes.CDLL) -> None:
    p, c, i = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int
    signatures: dict[str, tuple[list[Any], Any]] = {
        "PQconnectdbParams": ([ctypes.POINTER(c), ctypes.POINTER(c), i], p),
        "PQstatus": ([p], i),
        "PQerrorMessage": ([p], c),
        "PQfinish": ([p], None),
        "PQexecParams": (
            [p, c, i, ctypes.POINTER(ctypes.c_uint), ctypes.POINTER(c), p, p, i],
            p,
        ),
        "PQresultStatus": ([p], i),
        "PQresultErrorMessage": ([p], c),
        "PQresultErrorField": ([p, i], c),
        "PQntuples": ([p], i),
        "PQnfields": ([p], i),
        "PQfname": ([p, i], c),
        "PQftype": ([p, i], ctypes.c_uint),
        "PQgetvalue": ([p, i, i], p),
        "PQgetlength": ([p, i, i], i),
        "PQgetisnull": ([p, i, i], i),
        "PQclear": ([p], None),
    }
    for name, (args, result) in signatures.items():
        function = getattr(lib, name)
        function.argtypes = args
        function.restype = result


def _text(raw: bytes | None) -> str:
    return (raw or b"").decode("utf-8", "replace").strip()


def _param(value: object) -> tuple[int, bytes | None]:
    """(type OID, text) of one parameter; a str is sent untyped, as psycopg sends it."""
    if value is None:
        return 0, None
    if isinstance(value, bool):
        return BOOL, b"t" if value else b"f"
    if isinstance(value, int):
        return _integer_type(value), str(value).encode()
    if isinstance(value, float):
        return FLOAT8, repr(value).encode()
    if isinstance(value, Decimal):
        return NUMERIC, str(value).encode()
    if isinstance(value, str):
        return 0, value.encode()
    raise TypeError(f"cannot send a {type(value).__name__} to PostgreSQL here")


def _integer_type(value: int) -> int:
    """The smallest type that holds `value`, as psycopg chooses it (so `f($1)` finds an
    `integer` function as it does through psycopg)."""
    for oid, bits in ((INT2, 15), (INT4, 31), (INT8, 63)):
        if -(1 << bits) <= value < (1 << bits):
            return oid
    return NUMERIC


def _value(oid: int, raw: bytes) -> object:
    if oid in _INTEGERS:
        return int(raw)
    if oid in _FLOATS:
        return float(raw)
    if oid == BOOL:
        return raw == b"t"
    if oid == NUMERIC:
        return Decimal(raw.decode())
    text = raw.decode("utf-8")
    return json.loads(text) if oid in (JSON, JSONB) else text


class Connection:
    """One blocking connection; `query` returns rows as dicts, as psycopg's `dict_row` does."""

    def __init__(self, lib: ctypes.CDLL, handle: int) -> None:
        self._lib = lib
        self._handle: int | None = handle

    @classmethod
    def connect(cls, url: str, **settings: str) -> Connection:
        """Connect to `url` (a URL or conninfo), with `settings` (`connect_timeout`,
        `options`, `application_name`, …) over what it says."""
        lib = load()
        if lib is None:
            raise PgError("libpq is not available", connected=False)
        keys = ["dbname", *settings, "client_encoding"]
        values = [url, *settings.values(), "UTF8"]
        key_array = (ctypes.c_char_p * (len(keys) + 1))(*[k.encode() for k in keys], None)
        value_array = (ctypes.c_char_p * (len(values) + 1))(*[v.encode() for v in values], None)
        handle = lib.PQconnectdbParams(key_array, value_array, 1)
        if not handle:
            raise PgError("out of memory connecting to PostgreSQL", connected=False)
        if lib.PQstatus(handle) != CONNECTION_OK:
            message = _text(lib.PQerrorMessage(handle))
            lib.PQfinish(handle)
            raise PgError(message or "connection failed", connected=False)
        return cls(lib, handle)

    @property
    def closed(self) -> bool:
        return self._handle is None

    @property
    def broken(self) -> bool:
        return self._handle is not None and self._lib.PQstatus(self._handle) != CONNECTION_OK

    def query(self, sql: str, params: Sequence[object] = ()) -> list[dict[str, Any]]:
        """Run one statement (`$1`, `$2`… placeholders) and return its rows."""
        if self._handle is None:
            raise PgError("the connection is closed", connected=False)
        lib = self._lib
        sent = [_param(value) for value in params]
        types = (ctypes.c_uint * max(1, len(sent)))(*[oid for oid, _ in sent])
        texts = (ctypes.c_char_p * max(1, len(sent)))(*[text for _, text in sent])
        result = lib.PQexecParams(
            self._handle, sql.encode(), len(sent), types, texts, None, None, 0
        )
        if not result:
            raise PgError(_text(lib.PQerrorMessage(self._handle)), connected=not self.broken)
        try:
            status = lib.PQresultStatus(result)
            if status not in (TUPLES_OK, COMMAND_OK):
                state = lib.PQresultErrorField(result, SQLSTATE_FIELD)
                message = _text(lib.PQresultErrorField(result, MESSAGE_FIELD))
                message = message or _text(lib.PQresultErrorMessage(result)) or "query failed"
                raise PgError(message, state.decode() if state else None, connected=not self.broken)
            return self._rows(result)
        finally:
            lib.PQclear(result)

    def _rows(self, result: int) -> list[dict[str, Any]]:
        lib = self._lib
        fields = range(lib.PQnfields(result))
        names = [lib.PQfname(result, f).decode() for f in fields]
        oids = [int(lib.PQftype(result, f)) for f in fields]
        rows: list[dict[str, Any]] = []
        for r in range(lib.PQntuples(result)):
            row: dict[str, Any] = {}
            for f in fields:
                if lib.PQgetisnull(result, r, f):
                    row[names[f]] = None
                    continue
                raw = ctypes.string_at(lib.PQgetvalue(result, r, f), lib.PQgetlength(result, r, f))
                row[names[f]] = _value(oids[f], raw)
            rows.append(row)
        return rows

    def close(self) -> None:
        if self._handle is not None:
            self._lib.PQfinish(self._handle)
            self._handle = None


def numbered(sql: str) -> str:
    """Shared SQL's `?` placeholders as libpq's `$1`, `$2`, …"""
    parts = sql.split("?")
    return "".join(f"{part}${n}" for n, part in enumerate(parts[:-1], 1)) + parts[-1]
