"""Redaction: secrets are replaced before a record leaves the runtime.

Headers named in the settings (authorization, cookie, stripe-signature, ...) and any
dict key that contains one of the secret words (password, token, api_key, card_number, ...)
have their values replaced by `[redacted]`. Both lists come from `flux.toml`. In what a
handler printed or logged, the same is done to text: `password=...`, `"api_key": "..."`,
`Bearer ...`, and any value the request carried under a secret key.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from flux_lsp.model import JSON, Execution

REDACTED = "[redacted]"
MAX_DEPTH = 20
MIN_SECRET_VALUE = 4
"""A request's secret values at least this long are also replaced where a log line shows them."""
_CREDENTIALS = re.compile(r"\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+", re.IGNORECASE)


class Redactor:
    """Replaces secret values in headers, bodies, span payloads, rows and locals."""

    def __init__(self, headers: Iterable[str], keys: Iterable[str]) -> None:
        self.headers = frozenset(h.lower() for h in headers)
        words = [re.escape(k.lower()) for k in keys]
        self._key = re.compile("|".join(words), re.IGNORECASE) if words else None
        self._seen: dict[str, bool] = {}
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

    def headers_dict(self, headers: Iterable[tuple[str, str]]) -> dict[str, str]:
        """Headers as a dict, secret ones replaced."""
        out: dict[str, str] = {}
        for name, value in headers:
            lname = name.lower()
            secret = lname in self.headers or self.is_secret_key(lname)
            out[lname] = REDACTED if secret else value
        return out

    def value(self, value: JSON, depth: int = 0) -> JSON:
        """A copy of `value` with secret keys' values replaced, at any depth."""
        if depth > MAX_DEPTH:
            return "…"
        if isinstance(value, dict):
            return {
                k: (
                    REDACTED
                    if isinstance(k, str) and self.is_secret_key(k)
                    else self.value(v, depth + 1)
                )
                for k, v in value.items()
            }
        if isinstance(value, (list, tuple)):
            return [self.value(v, depth + 1) for v in value]
        return value

    def secret_values(self, value: JSON, found: set[str], depth: int = 0) -> set[str]:
        """The values held under secret keys anywhere in `value` (as text), into `found`."""
        if depth > MAX_DEPTH:
            return found
        if isinstance(value, dict):
            for k, v in value.items():
                if isinstance(k, str) and self.is_secret_key(k):
                    if isinstance(v, (str, int)) and len(str(v)) >= MIN_SECRET_VALUE:
                        found.add(str(v))
                else:
                    self.secret_values(v, found, depth + 1)
        elif isinstance(value, (list, tuple)):
            for v in value:
                self.secret_values(v, found, depth + 1)
        return found

    def text(self, message: str, secrets: Iterable[str] = ()) -> str:
        """`message` with secret assignments, credentials and the given secret values replaced."""
        if self._assignment is not None:
            message = self._assignment.sub(lambda m: m.group(1) + REDACTED, message)
        for secret in secrets:
            if secret in message:
                message = message.replace(secret, REDACTED)
        return _CREDENTIALS.sub(lambda m: f"{m.group(1)} {REDACTED}", message)

    def execution(self, execution: Execution) -> Execution:
        """Redact every payload of an execution in place and return it."""
        req = execution.request
        if execution.logs:
            known = self.secret_values(req, set())
            for entry in execution.logs:
                entry.message = self.text(entry.message, known)
        if "body" in req:
            req["body"] = self.value(req["body"])
        if "query" in req:
            req["query"] = self.value(req["query"])
        if "data" in req:
            req["data"] = self.value(req["data"])
        resp = execution.response
        if "body" in resp:
            resp["body"] = self.value(resp["body"])
        for span in execution.spans:
            if span.input is not None:
                span.input = self.value(span.input)
            if span.output is not None:
                span.output = self.value(span.output)
            if span.attributes:
                span.attributes = self.value(span.attributes)
        for m in execution.mutations:
            m.before = self.value(m.before) if m.before else m.before
            m.after = self.value(m.after) if m.after else m.after
            m.where = self.value(m.where) if m.where else m.where
        if execution.error:
            execution.error.locals = {
                k: (REDACTED if self.is_secret_key(k) else v)
                for k, v in execution.error.locals.items()
            }
        return execution
