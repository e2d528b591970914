"""The seed's incident, recorded by driving a copy of the example shop for real.

A customer who signed up and confirmed gets a webhook that succeeds; a payment webhook for a
customer with no subscription row fails with RowNotFound on the `ctx.db.update` line. The
extension tests draw their webview and drive VS Code from this recording.

`python -m tests.extension.incident DEST` writes the project under DEST and prints
`{"project": ..., "failing_id": ...}` (used by scripts/vscode_e2e.sh).
"""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from examples.shop_story import signed_payment
from flux_lsp.model import Execution
from tests.harness import FluxApp, copy_shop


@dataclass(slots=True)
class Incident:
    project: Path
    failing: Execution
    passing: Execution


async def record_incident(project: Path) -> Incident:
    """Drive the shop at `project`; return the failing and a passing webhook execution."""
    async with FluxApp(project) as flux:
        await flux.client.post(
            "/signup", json={"email": "ok@example.com", "customer_id": "cus_OK", "name": "Ok"}
        )
        await flux.client.post("/confirm_email", json={"customer_id": "cus_OK"})
        body, headers = signed_payment("cus_OK")
        ok = await flux.client.post("/stripe_webhook", content=body, headers=headers)
        assert ok.status_code == 200, ok.text
        await flux.client.post(
            "/signup", json={"email": "abc@example.com", "customer_id": "cus_ABC", "name": "Abc"}
        )
        body, headers = signed_payment("cus_ABC")
        bad = await flux.client.post("/stripe_webhook", content=body, headers=headers)
        assert bad.status_code == 500, bad.text
        failing, passing = await flux.recorded(
            bad.headers["x-flux-request-id"], ok.headers["x-flux-request-id"]
        )
    return Incident(project, failing, passing)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tests.extension.incident DEST", file=sys.stderr)
        return 2
    dest = Path(argv[0])
    dest.mkdir(parents=True, exist_ok=True)
    incident = asyncio.run(record_incident(copy_shop(dest)))
    print(json.dumps({"project": str(incident.project), "failing_id": incident.failing.id}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
