"""Where finished executions go: the `Recorder` sink protocol the runtime hands records to.

The runtime never imports the recorder package; it is given something with `record()` and
calls it once per execution, after redaction. `record` must not block or raise: a recorder
that cannot keep up drops and counts, it never slows a request.
"""

from __future__ import annotations

from typing import Protocol

from flux_lsp.model import Execution


class Recorder(Protocol):
    """A sink for finished executions."""

    def record(self, execution: Execution) -> None:
        """Accept one execution; never block, never raise."""

    def close(self) -> None:
        """Flush what is pending and release resources."""


class NullRecorder:
    """Recording turned off."""

    def record(self, execution: Execution) -> None:
        return None

    def close(self) -> None:
        return None
