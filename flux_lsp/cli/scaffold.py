"""The project `flux init` writes: its files as text, and writing them without overwriting.

`SCAFFOLD` maps each relative path to its contents: a commented `flux.toml`, one endpoint that
stores a note and queues a job, the job, the migration that creates the table, a `.gitignore`
for `.flux/` and `.env`, and VS Code settings. `write_scaffold` refuses to write anything when
one of those files already exists. Imports nothing beyond the standard library.
"""

from __future__ import annotations

from pathlib import Path

FLUX_TOML = """\
# Flux settings. Every key is optional: the values below are the defaults, commented out.
# Each one can also be set with a FLUX_… variable; secrets belong in the environment or .env.

[project]
# functions = "functions"     # one file per function: functions/<name>.py
# migrations = "migrations"   # SQL files applied in name order at start
# templates = "templates"     # email templates

[recorder]
# path = ".flux/recorder.db"  # where every execution is recorded

[email]
# provider = "console"        # "console" writes .flux/outbox/; "smtp" sends for real

[queue]
# max_attempts = 3            # a failing job is retried with backoff, then marked failed
# backoff = 1.0

[stripe]
# webhook_secret = "whsec_…"  # better: STRIPE_WEBHOOK_SECRET in the environment

[server]
# token = "…"                 # better: FLUX_TOKEN; turns on `flux deploy` and `--server`
"""

CREATE_NOTE = '''\
"""POST /create_note — stores a note and queues the job that counts its words."""

from starlette.responses import JSONResponse


async def handler(req, ctx):
    body = await req.json()
    text = body.get("text")
    if not text:
        return JSONResponse({"error": "text required"}, status_code=400)

    note = await ctx.db.insert("notes", {"text": text, "created_at": ctx.now()})
    await ctx.queue.enqueue("count_words", {"note_id": note.id})
    return JSONResponse({"id": note.id}, status_code=201)
'''

COUNT_WORDS = '''\
"""Queue job — counts the words of a note (enqueued by create_note)."""


async def handler(job, ctx):
    note_id = job.data["note_id"]
    note = await ctx.db.query_one("SELECT text FROM notes WHERE id = $1", [note_id])
    if note is None:
        raise LookupError(f"Note {note_id} not found")

    await ctx.db.update("notes", {"id": note_id}, {"words": len(note.text.split())})
'''

MIGRATION = """\
CREATE TABLE notes (
    id TEXT PRIMARY KEY,
    text TEXT NOT NULL,
    words INTEGER,
    created_at TEXT
);
"""

GITIGNORE = """\
# Flux's app database and recorder, and local secrets: never committed.
.flux/
.env
__pycache__/
"""

VSCODE_SETTINGS = """\
{
  "flux.recorder": "",
  "flux.window": "24h",
  "python.analysis.extraPaths": ["."],
  "files.exclude": { ".flux": true, "**/__pycache__": true }
}
"""

VSCODE_EXTENSIONS = """\
{
  "recommendations": ["flux.flux-vscode", "ms-python.python"]
}
"""

SCAFFOLD: dict[str, str] = {
    "flux.toml": FLUX_TOML,
    "functions/create_note.py": CREATE_NOTE,
    "functions/count_words.py": COUNT_WORDS,
    "migrations/001_notes.sql": MIGRATION,
    ".gitignore": GITIGNORE,
    ".vscode/settings.json": VSCODE_SETTINGS,
    ".vscode/extensions.json": VSCODE_EXTENSIONS,
}


class ScaffoldExists(Exception):
    """One of the files `flux init` writes is already there."""


def write_scaffold(root: Path) -> list[str]:
    """Write the project into `root` (created if needed); the relative paths written.

    Nothing is written when any of the files exists already."""
    existing = [rel for rel in SCAFFOLD if (root / rel).exists()]
    if existing:
        raise ScaffoldExists(
            f"{root} already has {', '.join(existing)}: flux init does not overwrite files"
        )
    for rel, text in SCAFFOLD.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return list(SCAFFOLD)
