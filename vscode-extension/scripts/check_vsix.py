"""Check a built Flux .vsix: it holds the bundle and contributes every command and setting.

Usage: python check_vsix.py flux.vsix. Prints one line per problem and exits 1, or prints a
one-line summary and exits 0.
"""

from __future__ import annotations

import json
import sys
import zipfile

COMMANDS = {
    "flux.palette.why": "Why…",
    "flux.palette.showTrace": "Show Trace…",
    "flux.palette.replayIncident": "Replay Incident…",
    "flux.palette.replayRequest": "Replay Request…",
    "flux.palette.tail": "Tail",
    "flux.palette.restartServer": "Restart Server",
}
SETTINGS = {
    "flux.recorder",
    "flux.window",
    "flux.functionsDir",
    "flux.serverCommand",
    "flux.trace.server",
}


def problems(path: str) -> tuple[list[str], str]:
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        return [f"{path}: not a readable .vsix ({exc})"], ""
    with archive:
        names = set(archive.namelist())
        found: list[str] = []
        if "extension/dist/extension.js" not in names:
            found.append("the bundle extension/dist/extension.js is missing")
        elif b"activate" not in archive.read("extension/dist/extension.js"):
            found.append("the bundle does not export activate")
        if any(n.startswith("extension/node_modules/") for n in names):
            found.append("node_modules were packaged (the bundle should hold every dependency)")
        if any(n.startswith("extension/src/") for n in names):
            found.append("TypeScript sources were packaged")
        manifest = json.loads(archive.read("extension/package.json"))
    if manifest.get("main") != "./dist/extension.js":
        found.append(f"main is {manifest.get('main')!r}, not ./dist/extension.js")
    contributes = manifest.get("contributes", {})
    titles = {c["command"]: c.get("title") for c in contributes.get("commands", [])}
    for command, title in COMMANDS.items():
        if titles.get(command) != title:
            found.append(f"command {command} ({title!r}) is not contributed")
    settings = set(contributes.get("configuration", {}).get("properties", {}))
    for setting in sorted(SETTINGS - settings):
        found.append(f"setting {setting} is not contributed")
    summary = f"{path}: bundle, {len(titles)} commands and {len(settings)} settings contributed"
    return found, summary


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: check_vsix.py FILE.vsix", file=sys.stderr)
        return 2
    found, summary = problems(argv[0])
    for line in found:
        print(f"vsix: {line}", file=sys.stderr)
    if not found:
        print(summary)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
