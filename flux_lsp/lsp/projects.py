"""Which Flux project (and which recorder `Store`) a document belongs to.

A document belongs to the workspace folder that contains it; its project root is the nearest
folder above it holding `flux.toml` or the functions folder (or the workspace folder itself).
Each project opens its recorder once, through `open_store`, so a local file and a `flux serve`
URL behave the same. A recorder that is missing, corrupt or too new is reported once with
`window/showMessage`; the project then simply has no data until the problem goes away.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from lsprotocol import types
from pygls.uris import from_fs_path, to_fs_path

from flux_lsp.lsp.config import FolderSettings, parse_folder_settings
from flux_lsp.project import ConfigError, Project, find_root
from flux_lsp.recorder.open_store import is_url, open_store
from flux_lsp.recorder.store import RecorderError, Store
from flux_lsp.settings import CONFIG_FILE, ENV_FILE

if TYPE_CHECKING:
    from flux_lsp.lsp.server import FluxLanguageServer

log = logging.getLogger("flux.lsp")


@dataclass(slots=True)
class FluxProject:
    """A project root, its functions folder, its recorder and the folder's settings."""

    root: Path
    functions_dir: Path
    recorder: str
    settings: FolderSettings
    store: Store | None = None
    problem: str | None = None
    token: int | None = None
    scanned_at: float | None = None
    """When the live watcher last looked for new records (see `live`)."""
    open_uris: set[str] = field(default_factory=set)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    """Held while the store is opened or dropped, so a store opened meanwhile is not lost."""
    closed: bool = False
    """The server is shutting down: the recorder is not opened again."""
    function_names: dict[str, str | None] = field(default_factory=dict)
    """File path → the function it defines (see `function_name`)."""
    uri_paths: dict[str, str | None] = field(default_factory=dict)
    """Document uri → its path relative to the root, as the recorder stores it (see
    `relative_uri`)."""

    @property
    def key(self) -> tuple[str, str]:
        return (str(self.root), self.recorder)

    def relative(self, path: str | Path) -> str:
        """A path relative to the project root, as the recorder stores it."""
        return Project(self.root).relative(path)

    def relative_uri(self, uri: str) -> str | None:
        """The path of document `uri` relative to the root (None for a uri that is not a
        file), worked out once per uri: the live watcher matches every open document against
        the files new failures were raised in."""
        if uri not in self.uri_paths:
            fs = to_fs_path(uri)
            self.uri_paths[uri] = self.relative(fs) if fs else None
        return self.uri_paths[uri]

    def uri_for(self, relative: str) -> str:
        return from_fs_path(str(self.root / relative)) or relative

    def function_name(self, path: str | Path) -> str | None:
        """`stripe_webhook` for `functions/stripe_webhook.py`; None outside functions/
        (worked out once per path: every hover on a `def` line asks)."""
        key = str(path)
        if key not in self.function_names:
            file = Path(path)
            inside = file.suffix == ".py" and file.parent.resolve() == self.functions_dir.resolve()
            self.function_names[key] = file.stem if inside else None
        return self.function_names[key]

    def recorder_present(self) -> bool:
        return is_url(self.recorder) or Path(self.recorder).is_file()

    async def open(self) -> Store | None:
        """The project's store, opened on first use; None (and `problem` set) when it cannot be."""
        if self.store is not None:
            return self.store
        async with self.lock:
            if self.store is not None or self.closed:
                return self.store
            try:
                self.store = await open_store(self.recorder)
                self.problem = None
                self.token = None
            except RecorderError as exc:
                self.problem = str(exc)
            except Exception as exc:  # an unreachable server, an unexpected file: keep serving
                self.problem = f"cannot open recorder {self.recorder}: {exc}"
        return self.store

    async def drop_store(self, problem: str) -> None:
        """Forget a store that stopped working (e.g. the file was replaced by garbage); one
        that is being opened is waited for, and closed."""
        async with self.lock:
            store, self.store, self.problem = self.store, None, problem
        if store is not None:
            try:
                await store.close()
            except Exception:
                log.debug("closing a broken store failed", exc_info=True)

    async def close(self) -> None:
        """Close the recorder, one being opened included, and open none again (the server is
        shutting down)."""
        self.closed = True
        await self.drop_store("server shutting down")


def _project_root(path: Path, folder: Path | None) -> Path:
    """The nearest ancestor of `path` holding flux.toml or a default functions/; else the folder."""
    return find_root(path.parent, folder) or (folder if folder is not None else path.parent)


def _project_paths(root: Path) -> tuple[Path, str]:
    """The functions folder and default recorder of the project at `root` (flux.toml aware)."""
    try:
        project = Project.load(root)
    except ConfigError:
        project = Project(root)
    return project.functions_dir, project.recorder_location


def _config_stamp(root: Path) -> tuple[tuple[int, int] | None, ...]:
    """What `flux.toml` and `.env` at `root` look like on disk (modified time and size), so
    the settings read from them are read again only when one of them changed."""
    stamps: list[tuple[int, int] | None] = []
    for name in (CONFIG_FILE, ENV_FILE):
        try:
            stat = (root / name).stat()
            stamps.append((stat.st_mtime_ns, stat.st_size))
        except OSError:
            stamps.append(None)
    return tuple(stamps)


class Projects:
    """Every project the server has seen, keyed by (root, recorder location)."""

    def __init__(self, server: FluxLanguageServer) -> None:
        self._server = server
        self._settings: dict[str, FolderSettings] = {}
        self._projects: dict[tuple[str, str], FluxProject] = {}
        self._reported: set[str] = set()
        self._paths: dict[Path, tuple[tuple[tuple[int, int] | None, ...], tuple[Path, str]]] = {}
        """Per project root, its functions folder and default recorder, with the stamp of the
        files they were read from: a hover does not read flux.toml and .env again."""

    def all(self) -> list[FluxProject]:
        return list(self._projects.values())

    def folders(self) -> list[tuple[str, Path]]:
        """(uri, path) of each workspace folder, or of the root when there are none."""
        out: list[tuple[str, Path]] = []
        try:
            folders = self._server.workspace.folders
        except RuntimeError:
            return out
        for folder in folders.values():
            fs = to_fs_path(folder.uri)
            if fs:
                out.append((folder.uri, Path(fs).resolve()))
        root_uri = self._server.workspace.root_uri
        if not out and root_uri:
            fs = to_fs_path(root_uri)
            if fs:
                out.append((root_uri, Path(fs).resolve()))
        return out

    def folder_of(self, path: Path) -> tuple[str, Path] | None:
        best: tuple[str, Path] | None = None
        for uri, folder in self.folders():
            if (folder == path or folder in path.parents) and (
                best is None or len(str(folder)) > len(str(best[1]))
            ):
                best = (uri, folder)
        return best

    def forget_settings(self) -> None:
        """Called on `workspace/didChangeConfiguration`: settings are asked for again."""
        self._settings.clear()

    async def settings_for(self, folder_uri: str | None) -> FolderSettings:
        key = folder_uri or ""
        if key in self._settings:
            return self._settings[key]
        raw: object = None
        caps = self._server.client_capabilities.workspace
        if caps is not None and caps.configuration:
            try:
                params = types.ConfigurationParams(
                    items=[types.ConfigurationItem(scope_uri=folder_uri, section="flux")]
                )
                result = await asyncio.wait_for(
                    self._server.workspace_configuration_async(params), timeout=5
                )
                raw = result[0] if result else None
            except Exception:
                log.warning("workspace/configuration failed; using defaults", exc_info=True)
        settings = parse_folder_settings(raw)
        for problem in settings.problems:
            self.report(problem, types.MessageType.Warning)
        self._settings[key] = settings
        return settings

    async def file_for(self, uri: str) -> tuple[FluxProject, str] | None:
        """The project a document belongs to and its file path; None outside any project."""
        fs = to_fs_path(uri)
        project = await self.project_for(uri) if fs else None
        return (project, fs) if project is not None and fs else None

    async def project_for(self, uri: str) -> FluxProject | None:
        fs = to_fs_path(uri)
        if not fs:
            return None
        path = Path(fs).resolve()
        folder = self.folder_of(path)
        settings = await self.settings_for(folder[0] if folder else None)
        folder_path = folder[1] if folder else None
        if settings.functions_dir and folder_path is not None:
            root = folder_path
            functions_dir = (folder_path / settings.functions_dir).resolve()
            default_recorder = Project(root).recorder_location
        else:
            root = _project_root(path, folder_path)
            functions_dir, default_recorder = self._paths_of(root)
        recorder = settings.recorder or default_recorder
        if not is_url(recorder) and not Path(recorder).is_absolute():
            recorder = str((folder_path or root) / recorder)
        key = (str(root), recorder)
        project = self._projects.get(key)
        if project is None or project.settings != settings:
            old = project
            project = FluxProject(root, functions_dir, recorder, settings)
            if old is not None:
                project.store, project.open_uris = old.store, old.open_uris
            self._projects[key] = project
        return project

    def _paths_of(self, root: Path) -> tuple[Path, str]:
        stamp = _config_stamp(root)
        cached = self._paths.get(root)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        paths = _project_paths(root)
        self._paths[root] = (stamp, paths)
        return paths

    def report(self, message: str, kind: types.MessageType = types.MessageType.Error) -> None:
        """Show `message` once (until it changes), never raising."""
        if message in self._reported:
            return
        self._reported.add(message)
        try:
            self._server.window_show_message(types.ShowMessageParams(type=kind, message=message))
        except Exception:
            log.warning("%s", message)

    async def store_for(self, project: FluxProject) -> Store | None:
        store = await project.open()
        if store is None and project.problem:
            self.report(f"Flux: {project.problem}")
        return store

    async def folder_projects(self) -> list[FluxProject]:
        """The project of each workspace folder (resolved as for a file at its root)."""
        found: list[FluxProject] = []
        for _uri, folder in self.folders():
            project = await self.project_for(from_fs_path(str(folder / "flux.toml")) or "")
            if project is not None:
                found.append(project)
        return found

    async def open_folders(self) -> None:
        """Resolve each workspace folder's project and open its recorder ahead of the first file.

        A folder without a recorder yet is left alone: the problem is reported when a file of
        it is opened, and the live watcher opens the recorder once it appears.
        """
        for project in await self.folder_projects():
            if project.recorder_present():
                await project.open()

    async def close(self) -> None:
        """Close every project's recorder, and open none again (the server is shutting down)."""
        for project in self._projects.values():
            await project.close()
