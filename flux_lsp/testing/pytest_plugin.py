"""The pytest plugin: Flux regression cases (`tests/flux/*.json`) as pytest test items.

Installed with Flux as the `flux` entry point of the `pytest11` group, so `pytest` loads it
by itself. It is on when the rootdir has a `tests/flux/` folder, or with `pytest --flux` (for a
project that is not the rootdir, e.g. a service inside a larger repository). Every `*.json`
file inside a `tests/flux/` folder is then one test item, run exactly as `flux test` runs it
(`flux_lsp.replay.regression`), against the project that holds that `tests/flux/` folder
(`--flux-project` names another). A failing case shows the same lines `flux test` prints; a
file that does not parse is a collection error naming its path and line. Flux itself is
imported only once a `.json` file is offered, so the plugin costs nothing where it is off.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from flux_lsp.project import Project
    from flux_lsp.replay.case import Case
    from flux_lsp.replay.regression import CaseResult

CASES = ("tests", "flux")
"""The folder cases live in (`flux_lsp.replay.case.CASES_DIR`), as path parts."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("flux", "Flux regression cases")
    group.addoption(
        "--flux",
        action="store_true",
        default=False,
        help="Collect Flux regression cases (tests/flux/*.json) even when the rootdir has no "
        "tests/flux/ folder.",
    )
    group.addoption(
        "--flux-project",
        default=None,
        metavar="DIR",
        help="The Flux project the cases run against (default: the folder holding tests/flux/).",
    )


def enabled(config: pytest.Config) -> bool:
    """On with `--flux`, or when the rootdir has a `tests/flux/` folder."""
    return bool(config.getoption("flux")) or config.rootpath.joinpath(*CASES).is_dir()


def project_of(path: Path) -> Path | None:
    """The project whose `tests/flux/` folder holds `path`, if any."""
    for folder in path.parents:
        if (folder.parent.name, folder.name) == CASES:
            return folder.parent.parent
    return None


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix != ".json" or not enabled(parent.config):
        return None
    root = project_of(file_path)
    if root is None:
        return None
    case_file: CaseFile = CaseFile.from_parent(parent, path=file_path)
    return case_file


class CaseFailed(Exception):
    """A case that ran and did not meet its expectation, or could not run."""

    def __init__(self, result: CaseResult) -> None:
        super().__init__(result.reason)
        self.result = result


class CaseFile(pytest.File):
    """One case file: one item."""

    def collect(self) -> list[pytest.Item]:
        from flux_lsp.replay.case import CaseError, load_case

        try:
            case = load_case(self.path)
        except CaseError as exc:
            raise self.CollectError(exc.at(self.nodeid)) from None
        item: CaseItem = CaseItem.from_parent(self, name=case.name, case=case)
        return [item]


class CaseItem(pytest.Item):
    """A regression case, run on a fresh database from the project's migrations."""

    def __init__(self, *, case: Case, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case
        # Plugins written for function items read `item.funcargs` (pytest-lsp's runtest
        # wrapper fails on an item without it): a case takes no fixtures.
        self.funcargs: dict[str, Any] = {}

    def _project(self) -> Project:
        from flux_lsp.project import Project

        chosen = self.config.getoption("flux_project")
        root = Path(chosen) if chosen else project_of(self.path)
        return Project.load(root or self.config.rootpath)

    def runtest(self) -> None:
        from flux_lsp.replay.regression import run_case

        result = asyncio.run(run_case(self._project(), self.case))
        if not result.passed:
            raise CaseFailed(result)

    def repr_failure(
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
        style: Any = None,
    ) -> str:
        if isinstance(excinfo.value, CaseFailed):
            return "\n".join(excinfo.value.result.lines(self.nodeid.split("::")[0]))
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"flux case {self.case.name} ({self.case.subject.target})"
