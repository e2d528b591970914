"""A Flux project on disk: its folders, its `flux.toml`, and the hash of its code.

A project is a folder with `functions/`, optional `migrations/` and `templates/`, an optional
`flux.toml`, and `.flux/` for the app database and the recorder. Every setting has a default,
so an empty folder with one function in it is a working project; the settings' schema and how
they are read is `flux_lsp.settings`. Like `model`, this module is shared by every layer and
imports nothing else from Flux but `settings`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from flux_lsp.settings import (
    CONFIG_FILE,
    ENV_FILE,
    ConfigError,
    Settings,
    load_settings,
    read_env_file,
)

__all__ = ["ConfigError", "Project", "Settings"]

SHARED_FOLDER = "lib"
"""The folder at the project root for code the functions share; deployed with them."""


def find_root(start: Path, stop: Path | None = None) -> Path | None:
    """The nearest folder at or above `start` holding `flux.toml` or a default `functions/`
    folder, as git finds its repository; None when there is none (up to `stop`, if given)."""
    for candidate in (start, *start.parents):
        if (candidate / CONFIG_FILE).is_file() or (candidate / "functions").is_dir():
            return candidate
        if candidate == stop:
            break
    return None


def is_remote(location: str) -> bool:
    """Whether a recorder location is a `flux serve` server's recorder API."""
    return location.startswith(("http://", "https://"))


def is_database_url(location: str) -> bool:
    """Whether a recorder location is a PostgreSQL URL rather than a file."""
    return location.startswith(("postgresql://", "postgres://"))


@dataclass(slots=True)
class Project:
    """A project folder and its settings."""

    root: Path
    settings: Settings = field(default_factory=Settings)
    sources: dict[str, str] = field(default_factory=dict)
    secrets_in_file: tuple[str, ...] = ()

    @classmethod
    def load(cls, root: str | os.PathLike[str] = ".") -> Project:
        """Read `flux.toml`, the project's `.env` and the environment (see `flux_lsp.settings`)."""
        path = Path(root).resolve()
        loaded = load_settings(path)
        url = loaded.settings.recorder.url
        if url and not is_database_url(url):
            where = loaded.sources.get("recorder.url", CONFIG_FILE)
            raise ConfigError(
                f"{where}: recorder.url must be postgresql://user@host/database, "
                f"not {url.split('@')[-1]!r}"
            )
        return cls(path, loaded.settings, loaded.sources, loaded.secrets_in_file)

    @property
    def config_file(self) -> Path:
        return self.root / CONFIG_FILE

    def export_env_file(self) -> list[str]:
        """Put the project's `.env` values into this process's environment, where unset, so
        handlers read them from `os.environ` as in production; returns the names set."""
        names = []
        for name, value in read_env_file(self.root / ENV_FILE).items():
            if name not in os.environ:
                os.environ[name] = value
                names.append(name)
        return names

    @property
    def functions_dir(self) -> Path:
        return self.root / self.settings.project.functions

    @property
    def migrations_dir(self) -> Path:
        return self.root / self.settings.project.migrations

    @property
    def templates_dir(self) -> Path:
        return self.root / self.settings.project.templates

    @property
    def shared_dir(self) -> Path:
        """`lib/`: code the functions share (`from lib.pricing import total`)."""
        return self.root / SHARED_FOLDER

    @property
    def state_dir(self) -> Path:
        return self.root / self.settings.project.state

    @property
    def app_db_path(self) -> Path:
        return self.state_dir / "app.db"

    @property
    def recorder_path(self) -> Path:
        if self.settings.recorder.path:
            return self.root / self.settings.recorder.path
        return self.state_dir / "recorder.db"

    @property
    def recorder_location(self) -> str:
        """Where this project records: its PostgreSQL URL when set, else its recorder file."""
        return self.settings.recorder.url or str(self.recorder_path)

    @property
    def recorder_health_path(self) -> Path:
        """The writer's health file for `flux status` (beside the file, or in `.flux/`)."""
        base = self.state_dir / "recorder.db" if self.settings.recorder.url else self.recorder_path
        return base.with_name(base.stem + "-health.json")

    def relative(self, path: str | os.PathLike[str]) -> str:
        """`path` relative to the project root, with forward slashes, when inside it."""
        try:
            return Path(path).resolve().relative_to(self.root).as_posix()
        except ValueError:
            return Path(path).as_posix()

    def code_files(self) -> list[Path]:
        """The files whose content defines the code version, in a stable order."""
        files: list[Path] = []
        for folder, pattern in ((self.functions_dir, "*.py"), (self.migrations_dir, "*.sql")):
            if folder.is_dir():
                files.extend(sorted(folder.glob(pattern)))
        if self.shared_dir.is_dir():
            files.extend(
                sorted(
                    p
                    for p in self.shared_dir.rglob("*.py")
                    if not any(part.startswith(".") for part in p.parts[len(self.root.parts) :])
                )
            )
        return files

    def code_version(self, overlay: dict[str, str] | None = None) -> str:
        """A short hash of functions/ and migrations/ (with unsaved `overlay` texts applied)."""
        import hashlib  # only here: loading OpenSSL costs every command's start

        digest = hashlib.sha256()
        overlay = overlay or {}
        seen: set[str] = set()
        for file in self.code_files():
            rel = self.relative(file)
            seen.add(rel)
            digest.update(rel.encode())
            text = overlay.get(rel)
            digest.update(text.encode() if text is not None else file.read_bytes())
        for rel in sorted(set(overlay) - seen):
            digest.update(rel.encode())
            digest.update(overlay[rel].encode())
        return digest.hexdigest()[:12]
