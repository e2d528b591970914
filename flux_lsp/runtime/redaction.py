"""Redaction: secrets are replaced before a record leaves the runtime.

One pass over a finished execution (`Redactor.execution`) replaces, with `[redacted]`:

- request headers named in the settings (authorization, cookie, stripe-signature, ...) and any
  header whose name holds a secret word or `signature` (`X-Hub-Signature-256`);
- the value of any key that holds a secret word (password, pwd, token, api_key, private_key,
  credentials, card_number, ...), at any depth of a JSON body, a query string, a form-encoded
  or multipart body, a span's input and output, a row and a job's data; the `number`, `cvc` and
  `cvv` of a nested `card` object;
- `ctx.db.query` parameters bound to a column whose name is secret (`WHERE password = $2`,
  `INSERT INTO users (email, password) VALUES ($1, $2)`), and string literals compared with one;
- in what a handler printed or logged, secret assignments in text (`password=...`,
  `"api_key": "..."`, `Bearer ...`);
- then, everywhere in the same execution (locals, the error message, logs, span payloads, the
  response), any copy of a value redacted above: a secret copied into an innocent-looking local
  or an exception message does not survive either.

The word lists come from `flux.toml` (`[redaction] keys`, `headers`) on top of the built-in
ones. This module imports only the model.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from email.parser import BytesParser
from email.policy import HTTP
from urllib.parse import parse_qsl, urlencode

from flux_lsp.model import JSON, Execution, Span
from flux_lsp.runtime.bodies import uncut

REDACTED = "[redacted]"
MAX_DEPTH = 20
MIN_COPIED = 6
"""Redacted values shorter than this are not searched for elsewhere (too many false hits)."""
MIN_TOKEN_PART = 16
"""Parts of a secret header looked for elsewhere: long enough to be a key, not a timestamp."""
CARD_FIELDS = frozenset({"number", "cvc", "cvv", "cvv2", "pan"})
SECRET_HEADER_WORDS = ("signature",)
STATEMENT_CACHE = 1024
_SCALARS = frozenset({str, int, float, bool, type(None)})
"""Types whose values `Redactor.value` returns as they are (exact types: a subclass may be a
container)."""

_PLACEHOLDER_COMPARED = re.compile(
    r'"?([A-Za-z_][\w]*)"?\s*(?:=|<>|!=|<=|>=|<|>|\bI?LIKE\b|\bIN\s*\()\s*\$(\d+)', re.IGNORECASE
)
_PLACEHOLDER_FIRST = re.compile(r'\$(\d+)\s*(?:=|<>|!=)\s*"?([A-Za-z_][\w]*)"?')
_INSERT = re.compile(
    r"\bINSERT\s+INTO\s+\S+\s*\(([^)]*)\)\s*VALUES\s*\(([^)]*)\)", re.IGNORECASE | re.DOTALL
)
_LITERAL_COMPARED = re.compile(r"""("?[A-Za-z_][\w]*"?\s*(?:=|<>|!=)\s*)'((?:[^']|'')*)'""")
_CREDENTIALS = re.compile(r"\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+", re.IGNORECASE)


class Redactor:
    """Replaces secret values in headers, bodies, span payloads, rows and locals."""

    def __init__(self, headers: Iterable[str], keys: Iterable[str]) -> None:
        self.headers = frozenset(h.lower() for h in headers)
        words = [re.escape(k.lower()) for k in keys]
        self._key = re.compile("|".join(words), re.IGNORECASE) if words else None
        self._seen: dict[str, bool] = {}
        self._placeholders: dict[str, frozenset[int]] = {}
        """`secret_placeholders` by statement: an app runs the same few statements."""
        # `password=hunter2`, `"api_key": "sk_..."`, `token: abc` in free text
        self._assignment = (
            re.compile(
                r"((?:[\w-]*(?:" + "|".join(words) + r")[\w-]*)[\"']?\s*[:=]\s*[\"']?)"
                r"([^\s\"',;&}\]]+)",
                re.IGNORECASE,
            )
            if words
            else None
        )

    def is_secret_key(self, key: str) -> bool:
        cached = self._seen.get(key)
        if cached is None:
            cached = bool(self._key and self._key.search(key.replace("-", "_")))
            if len(self._seen) < 4096:
                self._seen[key] = cached
        return cached

    def is_secret_header(self, name: str) -> bool:
        lname = name.lower()
        return (
            lname in self.headers
            or self.is_secret_key(lname)
            or any(word in lname for word in SECRET_HEADER_WORDS)
        )

    def headers_dict(
        self, headers: Iterable[tuple[str, str]], found: set[str] | None = None
    ) -> dict[str, str]:
        """Headers as a dict, secret ones replaced (their values added to `found`)."""
        out: dict[str, str] = {}
        for name, value in headers:
            lname = name.lower()
            if value != REDACTED and self.is_secret_header(lname):
                _remember(found, value)
                for part in value.replace(";", " ").replace(",", " ").split():
                    piece = part.partition("=")[2] or part
                    if len(piece) >= MIN_TOKEN_PART:  # `Bearer <token>`, `v1=<signature>`
                        _remember(found, piece)
                value = REDACTED
            out[lname] = value
        return out

    def value(self, value: JSON, depth: int = 0, found: set[str] | None = None) -> JSON:
        """A copy of `value` with secret keys' values replaced, at any depth."""
        if depth > MAX_DEPTH:
            return "…"
        if type(value) in _SCALARS:
            return value
        scalar_ok = depth < MAX_DEPTH  # a child's depth is depth + 1
        if isinstance(value, dict):
            out: dict[str, JSON] = {}
            for k, v in value.items():
                if isinstance(k, str) and self.is_secret_key(k):
                    _remember_all(found, v)
                    out[k] = REDACTED
                elif scalar_ok and type(v) in _SCALARS:  # most values: no call for them
                    out[k] = v
                elif isinstance(k, str) and "card" in k.lower() and isinstance(v, dict):
                    out[k] = self._card(v, depth + 1, found)
                else:
                    out[k] = self.value(v, depth + 1, found)
            return out
        if isinstance(value, (list, tuple)):
            return [
                v if scalar_ok and type(v) in _SCALARS else self.value(v, depth + 1, found)
                for v in value
            ]
        return value

    def _card(self, card: dict[str, JSON], depth: int, found: set[str] | None) -> JSON:
        redacted = {k: v for k, v in card.items() if k.lower() not in CARD_FIELDS}
        for k, v in card.items():
            if k.lower() in CARD_FIELDS:
                _remember_all(found, v)
        cleaned = self.value(redacted, depth, found)
        assert isinstance(cleaned, dict)
        return {k: (REDACTED if k.lower() in CARD_FIELDS else cleaned[k]) for k in card}

    # -- bodies that are text ----------------------------------------------------------------

    def body(self, body: JSON, content_type: str, found: set[str] | None = None) -> JSON:
        """A recorded body with its secrets replaced: JSON by key, form and multipart by field."""
        if isinstance(body, str):
            kind = content_type.split(";", 1)[0].strip().lower()
            if kind == "application/x-www-form-urlencoded":
                return self._form(body, found)
            if kind == "multipart/form-data":
                return self._multipart(body, content_type, found)
            return body
        return self.value(body, 0, found)

    def _form(self, body: str, found: set[str] | None) -> str:
        pairs = parse_qsl(uncut(body), keep_blank_values=True)
        if not any(self.is_secret_key(k) for k, _ in pairs):
            return body
        out = []
        for k, v in pairs:
            if self.is_secret_key(k):
                _remember(found, v)
                v = REDACTED
            out.append((k, v))
        return urlencode(out)

    def _multipart(self, body: str, content_type: str, found: set[str] | None) -> str:
        """Each part whose field name is secret gets `[redacted]` as its content."""
        head = f"Content-Type: {content_type}\r\n\r\n".encode()
        message = BytesParser(policy=HTTP).parsebytes(head + body.encode("utf-8", "replace"))
        boundary = message.get_boundary()
        if not boundary or not message.is_multipart():
            return body
        pieces = body.split(f"--{boundary}")
        for index, piece in enumerate(pieces):
            headers, sep, content = piece.partition("\r\n\r\n")
            name = re.search(r'\bname="([^"]*)"', headers)
            if sep and name and self.is_secret_key(name.group(1)):
                value, _, rest = content.partition("\r\n")
                _remember(found, value)
                pieces[index] = f"{headers}{sep}{REDACTED}\r\n{rest}"
        return f"--{boundary}".join(pieces)

    # -- SQL --------------------------------------------------------------------------------

    def secret_placeholders(self, sql: str) -> set[int]:
        """The `$n` parameters (1-based) of `sql` bound to a column whose name is secret."""
        cached = self._placeholders.get(sql)
        if cached is None:
            cached = frozenset(self._find_placeholders(sql))
            if len(self._placeholders) >= STATEMENT_CACHE:
                del self._placeholders[next(iter(self._placeholders))]  # the oldest
            self._placeholders[sql] = cached
        return set(cached)

    def _find_placeholders(self, sql: str) -> set[int]:
        hits = {
            int(number)
            for column, number in _PLACEHOLDER_COMPARED.findall(sql)
            if self.is_secret_key(column)
        }
        hits |= {
            int(number)
            for number, column in _PLACEHOLDER_FIRST.findall(sql)
            if self.is_secret_key(column)
        }
        for columns, values in _INSERT.findall(sql):
            names = [c.strip().strip('"') for c in columns.split(",")]
            for name, value in zip(names, values.split(","), strict=False):
                placeholder = re.fullmatch(r"\s*\$(\d+)\s*", value)
                if placeholder and self.is_secret_key(name):
                    hits.add(int(placeholder.group(1)))
        return hits

    def sql_text(self, sql: str, found: set[str] | None = None) -> str:
        """`sql` with string literals compared with a secret column replaced."""

        def literal(match: re.Match[str]) -> str:
            column = match.group(1).split()[0].strip('"').rstrip("=<>!")
            if not self.is_secret_key(column):
                return match.group(0)
            _remember(found, match.group(2))
            return f"{match.group(1)}'{REDACTED}'"

        return _LITERAL_COMPARED.sub(literal, sql) if "'" in sql else sql

    def _query_span(self, span: Span, found: set[str]) -> None:
        data = span.input
        if not isinstance(data, dict) or not isinstance(data.get("sql"), str):
            return
        sql = str(data["sql"])
        params = data.get("params")
        secret = self.secret_placeholders(sql)
        if secret and isinstance(params, list):
            for number in secret:
                if 0 < number <= len(params):
                    _remember_all(found, params[number - 1])
                    params[number - 1] = REDACTED
        data["sql"] = self.sql_text(sql, found)
        text = span.attributes.get("db.query.text")
        if isinstance(text, str):
            span.attributes["db.query.text"] = self.sql_text(text, found)

    def text(self, message: str, found: set[str] | None = None) -> str:
        """Free text (a log line) with secret assignments and credentials replaced."""
        if self._assignment is not None:

            def assignment(match: re.Match[str]) -> str:
                _remember(found, match.group(2))
                return match.group(1) + REDACTED

            message = self._assignment.sub(assignment, message)
        return _CREDENTIALS.sub(lambda m: f"{m.group(1)} {REDACTED}", message)

    # -- a whole execution --------------------------------------------------------------------

    def execution(self, execution: Execution) -> Execution:
        """Redact every payload of an execution in place and return it."""
        found: set[str] = set()
        req = execution.request
        headers = req.get("headers")
        content_type = ""
        if isinstance(headers, dict):
            req["headers"] = self.headers_dict(
                ((str(k), str(v)) for k, v in headers.items()), found
            )
            content_type = str(headers.get("content-type", ""))
        if "body" in req:
            req["body"] = self.body(req["body"], content_type, found)
        for key in ("query", "data"):
            if key in req:
                req[key] = self.value(req[key], 0, found)
        resp = execution.response
        if "body" in resp:
            resp["body"] = self.value(resp["body"], 0, found)
        for span in execution.spans:
            if span.name == "db.query":
                self._query_span(span, found)
            if span.input is not None:
                span.input = self.value(span.input, 0, found)
            if span.output is not None:
                span.output = self.value(span.output, 0, found)
            if span.attributes:
                attributes = self.value(span.attributes, 0, found)
                assert isinstance(attributes, dict)
                span.attributes = attributes
        for m in execution.mutations:
            m.before = self.value(m.before, 0, found) if m.before else m.before
            m.after = self.value(m.after, 0, found) if m.after else m.after
            m.where = self.value(m.where, 0, found) if m.where else m.where
        if execution.job is not None:
            job = self.value(execution.job, 0, found)
            assert isinstance(job, dict)
            execution.job = job
        for entry in execution.logs:
            entry.message = self.text(entry.message, found)
        if execution.error:
            execution.error.locals = {
                k: (REDACTED if self.is_secret_key(k) else v)
                for k, v in execution.error.locals.items()
            }
        copies = _copies(found)
        if copies is not None:
            _scrub_execution(execution, copies)
        return execution


def _copies(found: set[str]) -> re.Pattern[str] | None:
    """A pattern matching any redacted value long enough to look for elsewhere."""
    copies = sorted((s for s in found if len(s) >= MIN_COPIED), key=len, reverse=True)
    return re.compile("|".join(re.escape(s) for s in copies)) if copies else None


def scrub_copies(value: JSON, found: set[str]) -> JSON:
    """`value` with every copy of the values in `found` replaced: what `execution` does for one
    record, for data gathered from elsewhere (a regression case's rows and steps)."""
    copies = _copies(found)
    return _scrub(value, copies) if copies is not None else value


def _remember(found: set[str] | None, value: str) -> None:
    if found is not None and value and value != REDACTED:
        found.add(value)


def _remember_all(found: set[str] | None, value: JSON) -> None:
    """Remember every scalar inside a value that is being redacted."""
    if found is not None:
        scalars(value, found)


def scalars(value: JSON, out: set[str], min_length: int = 1) -> set[str]:
    """Every string or number inside `value`, as text (not `[redacted]`), into `out`."""
    if isinstance(value, dict):
        for v in value.values():
            scalars(v, out, min_length)
    elif isinstance(value, list):
        for v in value:
            scalars(v, out, min_length)
    elif isinstance(value, (str, int, float)) and not isinstance(value, bool):
        text = str(value)
        if len(text) >= min_length and text != REDACTED:
            out.add(text)
    return out


def _scrub(value: JSON, copies: re.Pattern[str], depth: int = 0) -> JSON:
    """`value` with every copy of a redacted secret replaced, at any depth."""
    if isinstance(value, str):
        return copies.sub(REDACTED, value) if copies.search(value) else value
    if depth > MAX_DEPTH:
        return value
    if isinstance(value, dict):
        return {k: _scrub(v, copies, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v, copies, depth + 1) for v in value]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        text = str(value)
        return REDACTED if copies.fullmatch(text) else value
    return value


def _scrub_execution(execution: Execution, copies: re.Pattern[str]) -> None:
    execution.request = _scrub(execution.request, copies)
    execution.response = _scrub(execution.response, copies)
    for span in execution.spans:
        span.input = _scrub(span.input, copies)
        span.output = _scrub(span.output, copies)
        span.attributes = _scrub(span.attributes, copies)
        if span.error:
            span.error = copies.sub(REDACTED, span.error)
    for m in execution.mutations:
        m.before = _scrub(m.before, copies)
        m.after = _scrub(m.after, copies)
        m.where = _scrub(m.where, copies)
    execution.ctx_values = _scrub(execution.ctx_values, copies)
    for entry in execution.logs:
        entry.message = copies.sub(REDACTED, entry.message)
    if execution.error:
        error = execution.error
        error.message = copies.sub(REDACTED, error.message)
        error.locals = {k: copies.sub(REDACTED, v) for k, v in error.locals.items()}
