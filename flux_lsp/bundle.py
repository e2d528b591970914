"""Deploy bundles: a tar.gz of `functions/`, `lib/`, `migrations/`, `templates/` and `flux.toml`.

`build_bundle` packs a project the way `flux deploy` uploads it (regular files only, sorted,
with fixed owners and times, so the same tree always gives the same bytes). `unpack_bundle`
is the server's side: it reads an uploaded archive member by member and refuses it, with one
clear `BundleError`, unless every member is a regular file or folder under one of those five
names, with no absolute path, no `..`, no link or device, and within the size limits. Nothing
is written outside the destination folder, and only after the member has passed.
`manifest` and `diff_manifests` say which files a deployment added, changed or removed.

Shared by `flux deploy` (cli/) and the server (serve/), so it sits below both; imports
`project` only.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from flux_lsp.project import SHARED_FOLDER, Project

TOP_FOLDERS = ("functions", SHARED_FOLDER, "migrations", "templates")
CONFIG_FILE = "flux.toml"
SKIPPED_PARTS = ("__pycache__",)
SKIPPED_SUFFIXES = (".pyc", ".pyo")


class BundleError(ValueError):
    """Why a bundle was refused; `str()` is the one line to show the user."""


@dataclass(slots=True, frozen=True)
class BundleLimits:
    """How large an upload may be: compressed, unpacked, and in members."""

    max_compressed: int = 20 * 1024 * 1024
    max_unpacked: int = 50 * 1024 * 1024
    max_members: int = 5000


@dataclass(slots=True)
class Changes:
    """Files a deployment added, changed and removed, relative to the bundle root."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


# -- what a project ships ------------------------------------------------------------------


def _shipped(path: Path) -> bool:
    return not (
        any(part in SKIPPED_PARTS or part.startswith(".") for part in path.parts)
        or path.suffix in SKIPPED_SUFFIXES
    )


def project_files(project: Project) -> dict[str, Path]:
    """The files `flux deploy` ships: bundle path → file on disk, sorted by bundle path."""
    files: dict[str, Path] = {}
    folders = (
        project.functions_dir,
        project.shared_dir,
        project.migrations_dir,
        project.templates_dir,
    )
    for name, folder in zip(TOP_FOLDERS, folders, strict=True):
        if not folder.is_dir():
            continue
        for path in folder.rglob("*"):
            rel = path.relative_to(folder)
            if path.is_file() and _shipped(rel):
                files[f"{name}/{rel.as_posix()}"] = path
    config = project.root / CONFIG_FILE
    if config.is_file():
        files[CONFIG_FILE] = config
    return dict(sorted(files.items()))


def build_bundle(files: dict[str, Path]) -> bytes:
    """A reproducible tar.gz holding `files` (bundle path → file) as regular files."""
    raw = io.BytesIO()
    with (
        gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for name, path in files.items():
            data = path.read_bytes()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    return raw.getvalue()


# -- the server's side ---------------------------------------------------------------------


def _member_path(member: tarfile.TarInfo) -> PurePosixPath:
    """The member's safe relative path, or a BundleError saying why it is not safe."""
    name = member.name
    if name.startswith("/") or PurePosixPath(name).is_absolute():
        raise BundleError(f"bundle path {name!r} is absolute; bundles hold relative paths only")
    if "\\" in name or "\x00" in name:
        raise BundleError(f"bundle path {name!r} has a backslash or NUL in it")
    parts = [p for p in PurePosixPath(name).parts if p != "."]
    if ".." in parts:
        raise BundleError(f"bundle path {name!r} uses '..'; bundles cannot reach outside")
    if not parts:
        if member.isdir():
            return PurePosixPath(".")
        raise BundleError(f"bundle path {name!r} is empty")
    if member.issym() or member.islnk():
        raise BundleError(
            f"bundle path {name!r} is a link (to {member.linkname!r}); "
            "bundles hold regular files and folders only"
        )
    if not (member.isreg() or member.isdir()):
        raise BundleError(
            f"bundle path {name!r} is a device, FIFO or other special file; "
            "bundles hold regular files and folders only"
        )
    top = parts[0]
    if len(parts) == 1 and top == CONFIG_FILE:
        if not member.isreg():
            raise BundleError(f"bundle path {name!r} must be a file")
    elif top not in TOP_FOLDERS or (len(parts) == 1 and not member.isdir()):
        raise BundleError(
            f"bundle path {name!r} is not allowed: a bundle holds only "
            f"{', '.join(f'{t}/' for t in TOP_FOLDERS)} and {CONFIG_FILE}"
        )
    return PurePosixPath(*parts)


MAX_EXTENDED_HEADER = 64 * 1024
"""Largest PAX or GNU long-name header a bundle may carry: tarfile reads one whole into
memory, so its declared size is checked before it is read (a header bomb)."""


class _BoundedTarInfo(tarfile.TarInfo):
    """A TarInfo that refuses an extended header declaring more than `MAX_EXTENDED_HEADER`
    bytes before tarfile reads it."""

    def _proc_gnulong(self, tarfile: tarfile.TarFile) -> tarfile.TarInfo:
        self._bounded()
        return super()._proc_gnulong(tarfile)  # type: ignore[misc,no-any-return]

    def _proc_pax(self, tarfile: tarfile.TarFile) -> tarfile.TarInfo:
        self._bounded()
        return super()._proc_pax(tarfile)  # type: ignore[misc,no-any-return]

    def _bounded(self) -> None:
        if self.size > MAX_EXTENDED_HEADER:
            raise BundleError(
                f"bundle has an extended tar header of {self.size:,} bytes "
                f"(the limit is {MAX_EXTENDED_HEADER:,})"
            )


def unpack_bundle(data: bytes, dest: Path, limits: BundleLimits | None = None) -> dict[str, str]:
    """Check and unpack an uploaded bundle into the empty folder `dest`; return its manifest.

    Raises BundleError (and leaves whatever it wrote in `dest` for the caller to remove)."""
    limits = limits or BundleLimits()
    if len(data) > limits.max_compressed:
        raise BundleError(
            f"bundle is {len(data):,} bytes; the limit is {limits.max_compressed:,} bytes"
        )
    if not data:
        raise BundleError("the bundle is empty")
    files: dict[str, str] = {}
    total = 0
    count = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz", tarinfo=_BoundedTarInfo) as tar:
            for member in tar:
                count += 1
                if count > limits.max_members:
                    raise BundleError(f"bundle has more than {limits.max_members:,} entries")
                rel = _member_path(member)
                target = dest.joinpath(*rel.parts)
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                key = rel.as_posix()
                if key in files:
                    raise BundleError(f"bundle path {key!r} appears twice")
                total += member.size
                if total > limits.max_unpacked:
                    raise BundleError(
                        f"bundle unpacks to more than {limits.max_unpacked:,} bytes (the limit)"
                    )
                source = tar.extractfile(member)
                if source is None:  # pragma: no cover - regular members always have data
                    raise BundleError(f"bundle path {key!r} has no data")
                content = source.read()
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(content)
                files[key] = hashlib.sha256(content).hexdigest()
    except BundleError:
        raise
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise BundleError(f"the bundle is not a readable tar.gz archive ({exc})") from None
    if not any(k.startswith("functions/") and k.endswith(".py") for k in files):
        raise BundleError("the bundle has no functions (functions/<name>.py)")
    return dict(sorted(files.items()))


def manifest(files: dict[str, Path]) -> dict[str, str]:
    """Bundle path → sha256 of the content, for `project_files`-style mappings."""
    return {name: hashlib.sha256(path.read_bytes()).hexdigest() for name, path in files.items()}


def diff_manifests(old: dict[str, str], new: dict[str, str]) -> Changes:
    return Changes(
        added=sorted(set(new) - set(old)),
        changed=sorted(k for k in set(new) & set(old) if new[k] != old[k]),
        removed=sorted(set(old) - set(new)),
    )
