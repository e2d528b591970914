"""`make demo`: the seed's incident, end to end, on the example shop.

1. Serve a scratch copy of examples/shop with `flux dev`, on embedded defaults.
2. Send the traffic of the story: a REST call and a validation error, two customers signing
   up, one confirming before paying and one paying first — whose Stripe webhook fails.
3. Answer from the recordings, as a developer would: `flux tail`, `why`, `trace debug`,
   `trace`, `state history`.
4. Show what an editor is shown, fetched from `flux lsp` through a real LSP client.
5. Fix signup in the scratch copy and replay the incident window against the fix.
6. Deploy the fix to a `flux serve` server and confirm live with `flux tail --server`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from shop_story import SECRET, fix_signup, signed_payment

REPO = Path(__file__).resolve().parent.parent
SCRATCH = REPO / "build" / "demo"


def heading(text: str) -> None:
    print(f"\n\033[1m── {text} {'─' * max(0, 74 - len(text))}\033[0m\n", flush=True)


def flux(project: Path, *args: str, show: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a `flux` command in the project, echo it and its output like a terminal would."""
    if show:
        print(f"$ flux {' '.join(args)}", flush=True)
    result = subprocess.run(
        [sys.executable, "-m", "flux_lsp", *args],
        cwd=project,
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "100", "NO_COLOR": "1"},
    )
    if show:
        print(result.stdout.rstrip("\n"), flush=True)
        if result.stderr.strip():
            print(result.stderr.rstrip("\n"), flush=True)
        print(flush=True)
    return result


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(project: Path, port: int, command: str = "dev") -> subprocess.Popen[bytes]:
    """`flux dev` (or `flux serve`) on 127.0.0.1:port, once it answers."""
    log = open(project / f".flux-{command}.log", "wb")  # noqa: SIM115 (closed with the process)
    proc = subprocess.Popen(
        [sys.executable, "-m", "flux_lsp", command, "--port", str(port)],
        cwd=project,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=0.5)
            return proc
        except httpx.TransportError:
            if proc.poll() is not None:
                break
            time.sleep(0.1)
    proc.kill()
    sys.exit(f"flux {command} did not start:\n" + (project / f".flux-{command}.log").read_text())


def send_traffic(base: str) -> None:
    with httpx.Client(base_url=base, timeout=10) as client:

        def call(path: str, **kwargs: object) -> httpx.Response:
            r = client.post(path, **kwargs)  # type: ignore[arg-type]
            print(f"  POST {path:<16} → {r.status_code}  req:{r.headers['x-flux-request-id'][:8]}")
            return r

        def webhook(event_id: str, customer: str) -> httpx.Response:
            body, headers = signed_payment(customer, 4900, event_id)
            return call("/stripe_webhook", content=body, headers=headers)

        call("/create_user", json={"email": "a@b.com", "name": "Alice"})
        call("/create_user", json={"name": "Alice"})
        # cus_XYZ confirms their address before paying: the happy path.
        call("/signup", json={"email": "xyz@shop.test", "name": "Xavier", "customer_id": "cus_XYZ"})
        call("/confirm_email", json={"customer_id": "cus_XYZ"})
        webhook("evt_1001", "cus_XYZ")
        # cus_ABC pays first: the webhook arrives before the subscription row exists.
        r = call(
            "/signup", json={"email": "abc@shop.test", "name": "Abby", "customer_id": "cus_ABC"}
        )
        webhook("evt_1002", "cus_ABC")
        time.sleep(1.0)
        call("/confirm_email", json={"customer_id": "cus_ABC", "user_id": r.json()["id"]})


def wait_for_jobs(project: Path, count: int) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        out = flux(project, "tail", "--filter", "kind=job", "--json", show=False).stdout
        executions = json.loads(out)["executions"] if out.strip() else []
        if sum(e["status"] == "done" for e in executions) >= count:
            return
        time.sleep(0.2)


def window_around(start: float) -> str:
    begin = dt.datetime.fromtimestamp(start - 60)
    end = dt.datetime.now() + dt.timedelta(minutes=1)
    if begin.date() != end.date():
        return f"{begin.isoformat(timespec='minutes')}..{end.isoformat(timespec='minutes')}"
    return f"{begin:%H:%M}..{end:%H:%M}"


def first_id(project: Path, *filters: str) -> str:
    args = ["tail", *(x for f in filters for x in ("--filter", f)), "--limit", "1", "--json"]
    data = json.loads(flux(project, *args, show=False).stdout)
    return str(data["executions"][0]["id"])[:8]


def deploy_and_confirm(project: Path) -> None:
    production = SCRATCH / "production"
    (production / "functions").mkdir(parents=True)
    os.environ["FLUX_TOKEN"] = "demo-admin-token"
    port = free_port()
    server = start_server(production, port, "serve")
    url = f"http://127.0.0.1:{port}"
    try:
        flux(project, "deploy", "--server", url)
        with httpx.Client(base_url=url, timeout=10) as client:
            for customer, event_id in (("cus_NEW1", "evt_2001"), ("cus_NEW2", "evt_2002")):
                body = {"email": f"{customer}@shop.test", "customer_id": customer}
                client.post("/signup", json=body)
                content, headers = signed_payment(customer, 4900, event_id)
                client.post("/stripe_webhook", content=content, headers=headers)
        time.sleep(0.5)  # the server's recorder writes in batches
        result = flux(project, "tail", "--server", url, "--filter", "path=/stripe_webhook")
        if " 500 " not in result.stdout:
            print("  ✔ No more 500s")
    finally:
        server.terminate()
        server.wait(timeout=10)


def show_editor(project: Path) -> None:
    editor_view = REPO / "examples" / "editor_view.py"
    subprocess.run([sys.executable, str(editor_view), str(project)], check=True)


def main() -> None:
    shutil.rmtree(SCRATCH, ignore_errors=True)
    project = SCRATCH / "shop"
    shutil.copytree(REPO / "examples" / "shop", project, ignore=shutil.ignore_patterns(".flux"))
    os.environ["STRIPE_WEBHOOK_SECRET"] = SECRET

    heading("1. flux dev: serving the example shop, recording every execution")
    port = free_port()
    started = time.time()
    server = start_server(project, port)
    try:
        print(f"  flux dev on http://127.0.0.1:{port} · project {project.relative_to(REPO)}\n")
        heading("2. Traffic: a REST call, two signups, two payments")
        send_traffic(f"http://127.0.0.1:{port}")
        wait_for_jobs(project, 2)

        heading("3. Detect, root-cause, confirm — from the recordings")
        flux(project, "tail", "--filter", "path=/stripe_webhook", "--filter", "status=500")
        failing = first_id(project, "path=/stripe_webhook", "status=500")
        flux(project, "why", failing)
        flux(project, "trace", "debug", failing)
        flux(project, "tail", "--filter", "path=/create_user")
        flux(project, "why", first_id(project, "path=/create_user", "status=400"))
        flux(project, "state", "history", "users", "--id", "u_1")
        flux(project, "tail", "--filter", "function=send_onboarding_email")
        job = first_id(project, "function=send_onboarding_email")
        flux(project, "trace", job)
        flux(project, "state", "history", "email_sends", "--filter", f"job={job}")
    finally:
        server.terminate()
        server.wait(timeout=10)

    heading("4. What the editor shows (diagnostics and hover from `flux lsp`)")
    show_editor(project)

    heading("5. Fix signup in the scratch copy, then replay the incident against the fix")
    fix_signup(project)
    print("  functions/signup.py now creates the subscription row at signup\n")
    window = window_around(started)
    result = flux(project, "incident", "replay", window)
    if result.returncode != 0:
        sys.exit("the replay did not resolve the incident")

    heading("6. The editor after the replay: the failure is marked fixed")
    show_editor(project)

    heading("7. Deploy the fix to a `flux serve` server and confirm live")
    deploy_and_confirm(project)


if __name__ == "__main__":
    main()
