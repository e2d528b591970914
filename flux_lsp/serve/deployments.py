"""Deployments of a `flux serve` server: kept on disk, checked, and swapped in atomically.

Each deployment is a folder `<state dir>/deployments/<id>/` holding the unpacked bundle and a
`deployment.json` (id, code version, time, file hashes). `history.json` is the stack of
deployments made active, newest last: deploy pushes, rollback pops. Both files are replaced
atomically, so a crash never leaves a half-written history.

`Deployer.deploy` unpacks a bundle into a new folder and checks it before anything changes:
the archive (see `bundle`), `flux.toml`, every function importable, and the new migrations
applied to a copy of the app database. Only then does `Runtime.swap_code` switch versions;
a rejected bundle leaves the running deployment exactly as it was.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from flux_lsp.bundle import (
    BundleError,
    BundleLimits,
    Changes,
    diff_manifests,
    manifest,
    project_files,
    unpack_bundle,
)
from flux_lsp.encode import INLINE, to_json
from flux_lsp.model import JSON
from flux_lsp.project import ConfigError, Project
from flux_lsp.runtime.database import DatabaseError
from flux_lsp.runtime.functions import FunctionRegistry
from flux_lsp.runtime.runtime import Runtime
from flux_lsp.runtime.scratch import scratch_copy
from flux_lsp.serve.deploy_check import check_functions
from flux_lsp.settings import ProjectSection

DEPLOYMENTS = "deployments"
HISTORY = "history.json"
RECORD = "deployment.json"
KEEP = 20
"""How many deployments a server keeps for rollback; older folders are removed."""
_ID = re.compile(r"^[0-9a-f]{8}$")


class DeployError(Exception):
    """A deploy or rollback that cannot be done; `status` is the HTTP status to answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        self.status = status
        super().__init__(message)


@dataclass(slots=True)
class Deployment:
    id: str
    code_version: str
    created_at: float
    files: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, JSON]) -> Deployment:
        return cls(
            id=str(data["id"]),
            code_version=str(data["code_version"]),
            created_at=float(data["created_at"]),
            files=dict(data.get("files") or {}),
        )


@dataclass(slots=True)
class DeployResult:
    """What a deploy or rollback did."""

    deployment: Deployment = field(metadata=INLINE)
    previous_code_version: str
    changes: Changes
    migrations_applied: list[str]
    """Applied by the deploy; with `dry_run`, those it would apply."""
    rolled_back_from: str | None = None
    dry_run: bool = False
    """Checked only (`flux deploy --dry-run`): nothing changed on the server."""


def _write_json(path: Path, data: object) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)


def deployment_project(folder: Path, base: Project) -> Project:
    """The project for an unpacked bundle, keeping the server's state, recorder and token.

    The bundle's `flux.toml` sets everything else; its folder layout is always the bundle's
    (`functions/`, `migrations/`, `templates/`), whatever `[project]` says."""
    project = Project.load(folder)
    settings = project.settings
    paths = ProjectSection(state=str(base.state_dir))
    project.settings = replace(
        settings,
        project=paths,
        recorder=replace(settings.recorder, path=str(base.recorder_path)),
        server=base.settings.server,
        database=base.settings.database,  # the server's app database, not the bundle's
    )
    return project


class DeploymentStore:
    """The deployment folders and the history under a server's state dir."""

    def __init__(self, base: Project) -> None:
        self.base = base
        self.root = base.state_dir / DEPLOYMENTS

    def folder(self, ident: str) -> Path:
        return self.root / ident

    def history(self) -> list[str]:
        try:
            data = json.loads((self.root / HISTORY).read_text())
        except (OSError, ValueError):
            return []
        ids = data.get("active") if isinstance(data, dict) else None
        if not isinstance(ids, list):
            return []
        return [i for i in ids if isinstance(i, str) and _ID.match(i) and self.load(i)]

    def set_history(self, ids: list[str]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        _write_json(self.root / HISTORY, {"active": ids})

    def load(self, ident: str) -> Deployment | None:
        try:
            data = json.loads((self.folder(ident) / RECORD).read_text())
            return Deployment.from_dict(data)
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def active(self) -> Deployment | None:
        ids = self.history()
        return self.load(ids[-1]) if ids else None

    def all(self) -> list[Deployment]:
        if not self.root.is_dir():
            return []
        found = [self.load(p.name) for p in self.root.iterdir() if _ID.match(p.name)]
        return sorted((d for d in found if d), key=lambda d: d.created_at)

    def new_folder(self) -> tuple[str, Path]:
        self.root.mkdir(parents=True, exist_ok=True)
        while True:
            ident = secrets.token_hex(4)
            folder = self.folder(ident)
            try:
                folder.mkdir()
            except FileExistsError:
                continue
            return ident, folder

    def project(self, ident: str) -> Project:
        return deployment_project(self.folder(ident), self.base)

    def prune(self, keep: int = KEEP, spare: str | None = None) -> None:
        """Forget all but the newest `keep` deployments, and remove folders no longer listed
        (older deployments, rolled-back ones, and any left half-written by a crash).

        `spare` is a folder to leave for now: the code just swapped out, which requests still
        in flight may read (source lines for tracebacks, templates)."""
        ids = self.history()[-keep:]
        self.set_history(ids)
        for folder in self.root.iterdir():
            if _ID.match(folder.name) and folder.name not in ids and folder.name != spare:
                shutil.rmtree(folder, ignore_errors=True)


def active_project(base: Project) -> Project:
    """The project `flux serve` starts with: the active deployment, else the folder itself."""
    store = DeploymentStore(base)
    active = store.active()
    return store.project(active.id) if active else base


async def _check_migrations(live: Project, migrations: Path) -> list[str]:
    """Apply the new migrations to a scratch copy of the live app database (a copied SQLite
    file, or a scratch PostgreSQL database); raise BundleError if one fails. The names of
    those that would be applied."""
    if not migrations.is_dir():
        return []
    try:
        async with scratch_copy(live) as trial:
            return await trial.apply_migrations(migrations)
    except DatabaseError as exc:
        raise BundleError(str(exc)) from None


class Deployer:
    """Deploys bundles to, and rolls back, one running `Runtime`."""

    def __init__(self, runtime: Runtime, base: Project, limits: BundleLimits | None = None) -> None:
        self.runtime = runtime
        self.store = DeploymentStore(base)
        self.limits = limits or BundleLimits()
        self._lock = asyncio.Lock()
        if self.store.root.is_dir():
            self.store.prune()  # folders left by a deploy that a crash interrupted

    def current_manifest(self) -> dict[str, str]:
        """The files of the code running now (the active deployment, or the served folder)."""
        active = self.store.active()
        if active and active.code_version == self.runtime.code_version:
            return active.files
        return manifest(project_files(self.runtime.project))

    async def _prepare(
        self, data: bytes, ident: str, folder: Path
    ) -> tuple[Deployment, Project, FunctionRegistry, list[str]]:
        """Unpack and check a bundle; nothing live changes here. Its functions are imported in
        a child process (`deploy_check`), never in this one. The last item: the migrations a
        deploy would apply."""
        unpacked = await asyncio.to_thread(unpack_bundle, data, folder, self.limits)
        try:
            project = await asyncio.to_thread(self.store.project, ident)
        except ConfigError as exc:
            raise BundleError(str(exc)) from None
        await self._check_functions(folder)
        pending = await _check_migrations(self.runtime.project, project.migrations_dir)
        registry = FunctionRegistry(project.functions_dir, project_root=project.root)
        deployment = Deployment(
            id=ident,
            code_version=project.code_version(),
            created_at=time.time(),
            # the files the project ships, hashed as they were unpacked (not read again)
            files={name: unpacked[name] for name in project_files(project)},
        )
        return deployment, project, registry, pending

    async def _check_functions(self, folder: Path) -> None:
        limits = self.store.base.settings.server
        await check_functions(folder, limits.deploy_check_timeout, limits.deploy_check_memory)

    async def deploy(self, data: bytes) -> DeployResult:
        """Check `data` and make it the running code; raise DeployError, changing nothing."""
        async with self._lock:
            ident, folder = self.store.new_folder()
            try:
                deployment, project, registry, _ = await self._prepare(data, ident, folder)
                _write_json(folder / RECORD, to_json(deployment))
                result = await self._activate(deployment, project, registry, push=True)
            except BundleError as exc:
                shutil.rmtree(folder, ignore_errors=True)
                raise DeployError(f"bundle rejected: {exc}") from None
            except BaseException:
                shutil.rmtree(folder, ignore_errors=True)
                raise
            self.store.prune()
            return result

    async def check(self, data: bytes) -> DeployResult:
        """What deploying `data` would do (`flux deploy --dry-run`): the bundle is checked as
        a deploy checks it, and the changes and pending migrations are reported; nothing is
        kept and the running code does not change. Raise DeployError when it would fail."""
        async with self._lock:
            ident, folder = self.store.new_folder()
            try:
                deployment, _, registry, pending = await self._prepare(data, ident, folder)
                registry.close()
            except BundleError as exc:
                raise DeployError(f"bundle rejected: {exc}") from None
            finally:
                shutil.rmtree(folder, ignore_errors=True)
            return DeployResult(
                deployment=deployment,
                previous_code_version=self.runtime.code_version,
                changes=diff_manifests(self.current_manifest(), deployment.files),
                migrations_applied=pending,
                dry_run=True,
            )

    async def rollback(self) -> DeployResult:
        """Make the deployment before the active one run again."""
        async with self._lock:
            ids = self.store.history()
            if len(ids) < 2:
                raise DeployError("no previous deployment to roll back to", status=409)
            target = ids[-2]
            deployment = self.store.load(target)
            if deployment is None:  # pragma: no cover - history() only lists loadable ones
                raise DeployError(f"deployment {target} is missing", status=409)
            project = await asyncio.to_thread(self.store.project, target)
            registry = FunctionRegistry(project.functions_dir, project_root=project.root)
            try:
                await self._check_functions(self.store.folder(target))
            except BundleError as exc:
                raise DeployError(f"cannot roll back to {target}: {exc}", status=409) from None
            result = await self._activate(deployment, project, registry, push=False)
            result.rolled_back_from = ids[-1]
            self.store.set_history(ids[:-1])
            self.store.prune(spare=ids[-1])
            return result

    async def _activate(
        self, deployment: Deployment, project: Project, registry: FunctionRegistry, *, push: bool
    ) -> DeployResult:
        previous_version = self.runtime.code_version
        changes = diff_manifests(self.current_manifest(), deployment.files)
        try:
            applied = await self.runtime.swap_code(project, registry)
        except DatabaseError as exc:
            raise BundleError(str(exc)) from None
        if push:
            self.store.set_history([*self.store.history(), deployment.id])
        return DeployResult(
            deployment=deployment,
            previous_code_version=previous_version,
            changes=changes,
            migrations_applied=applied,
        )

    def status(self) -> dict[str, JSON]:
        """The running code version, the active deployment and every kept deployment."""
        active = self.store.active()
        return {
            "code_version": self.runtime.code_version,
            "active": active.id if active else None,
            "history": self.store.history(),
            "deployments": [
                {"id": d.id, "code_version": d.code_version, "created_at": d.created_at}
                for d in self.store.all()
            ],
        }
