"""Bearer-token protection for the admin API: every `/_flux/` request must carry the token.

The comparison is constant-time (`hmac.compare_digest` on the encoded values), and a missing,
malformed or wrong `Authorization` header gets the same 401 JSON body, so a caller learns
nothing about the token from the answer.
"""

from __future__ import annotations

import hmac

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

UNAUTHORIZED = {
    "error": "missing or wrong token: send Authorization: Bearer <FLUX_TOKEN>",
    "kind": "Unauthorized",
}


def token_matches(header: str | None, token: str) -> bool:
    """Whether an `Authorization` header value carries exactly `token` as a bearer token."""
    if not header:
        return False
    scheme, _, given = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


class BearerAuth:
    """ASGI middleware: pass requests carrying the token, answer 401 to every other one."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        if not token:
            raise ValueError("BearerAuth needs a non-empty token")
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = None
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                header = value.decode("latin-1")
                break
        if not token_matches(header, self.token):
            response = JSONResponse(
                UNAUTHORIZED, status_code=401, headers={"www-authenticate": "Bearer"}
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
