"""`--json` output: a report's JSON (`encode.to_json`) on stdout, without importing rich."""

from __future__ import annotations

import json
import sys
from typing import Any

from flux_lsp.encode import to_json


def print_json(document: Any) -> None:
    """One indented JSON document (a report, or a dict or list holding reports)."""
    sys.stdout.write(json.dumps(to_json(document), indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def print_json_line(document: Any) -> None:
    """One compact JSON document on one line (JSON Lines, for `tail --follow --json`)."""
    sys.stdout.write(json.dumps(to_json(document), ensure_ascii=False) + "\n")
    sys.stdout.flush()
