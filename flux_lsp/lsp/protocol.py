"""The language server's JSON-RPC protocol: every request gets an answer.

pygls drops a request whose params do not fit the method's type (it logs and moves on, so the
client waits for ever), and runs requests that arrive before `initialize` against a half-built
server (an AttributeError traceback comes back). `FluxProtocol` answers both as the LSP says:
`InvalidParams` (-32602) and `ServerNotInitialized` (-32002), with one line of what was wrong.

Imports pygls and lsprotocol only.
"""

from __future__ import annotations

import logging
from typing import Any

from lsprotocol import types
from pygls.exceptions import (
    JsonRpcException,
    JsonRpcInvalidParams,
    JsonRpcServerNotInitialized,
)
from pygls.protocol import LanguageServerProtocol

log = logging.getLogger("flux.lsp")

ALWAYS_ALLOWED = frozenset({types.INITIALIZE, types.EXIT, types.SHUTDOWN})


class _Answered:
    """A message that was already answered with an error; nothing more to do."""

    jsonrpc = "2.0"


ANSWERED = _Answered()


class FluxProtocol(LanguageServerProtocol):
    """pygls's protocol, answering malformed and too-early requests instead of dropping them."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.initialize_seen = False

    def structure_message(self, data: dict[str, Any]) -> Any:
        if "jsonrpc" not in data:
            return data
        method = data.get("method")
        is_request = "id" in data and isinstance(method, str)
        if is_request and not self.initialize_seen and method not in ALWAYS_ALLOWED:
            self._refuse(data["id"], JsonRpcServerNotInitialized(f"{method} before initialize"))
            return ANSWERED
        early = not self.initialize_seen and method not in ALWAYS_ALLOWED
        if not is_request and isinstance(method, str) and early:
            return ANSWERED  # notifications before initialize are dropped, as the LSP says
        try:
            message = super().structure_message(data)
        except JsonRpcException as exc:
            if not is_request:
                return ANSWERED  # a malformed notification has no one to answer
            if isinstance(exc, JsonRpcInvalidParams) or method is not None:
                exc = JsonRpcInvalidParams(f"invalid params for {method}")
            self._refuse(data["id"], exc)
            return ANSWERED
        if method == types.INITIALIZE:
            self.initialize_seen = True
        return message

    def handle_message(self, message: Any) -> None:
        if message is ANSWERED:
            return
        super().handle_message(message)

    def _refuse(self, msg_id: Any, error: Any) -> None:
        log.warning("refused request %s: %s", msg_id, error.message)
        self._send_response(msg_id, error=error.to_response_error())
