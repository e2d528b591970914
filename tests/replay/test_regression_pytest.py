"""The pytest plugin: regression cases collected and run by `pytest` beside the user's tests.

Each test lays a real project out in pytester's folder (the example shop with cases saved from
the recorded incident, no `.flux/`) and runs pytest on it in-process, the plugin loaded through
its installed entry point as in a user's project.
"""

from __future__ import annotations

import shutil
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from examples.shop_story import ROW_NOT_FOUND, fix_signup

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.usefixtures("no_env_secret")

USER_TEST = """\
def test_the_users_own_test():
    assert 1 + 1 == 2
"""


@pytest.fixture(autouse=True)
def quiet_ini(pytester: pytest.Pytester) -> None:
    """This environment's pytest-asyncio warns about an unset option in every inner run."""
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")


def lay_out(saved: Path, root: Path) -> Path:
    """The saved project's files (not `.flux/`) under `root`."""
    root.mkdir(parents=True, exist_ok=True)
    for name in ("functions", "migrations", "templates", "tests", "flux.toml"):
        source = saved / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, root / name)
    return root


def test_the_plugin_is_installed_as_an_entry_point() -> None:
    [plugin] = [e for e in entry_points(group="pytest11") if e.name == "flux"]
    assert plugin.value == "flux_lsp.testing.pytest_plugin"


def test_pytest_collects_and_runs_the_cases_beside_the_users_tests(
    saved: Path, pytester: pytest.Pytester
) -> None:
    project = lay_out(saved, pytester.path)
    pytester.makepyfile(test_users=USER_TEST)

    collected = pytester.runpytest("--collect-only", "-q")
    assert {
        "tests/flux/create_user.json::create_user",
        "tests/flux/onboarding_job.json::onboarding_job",
        "tests/flux/webhook_before_signup.json::webhook_before_signup",
        "test_users.py::test_the_users_own_test",
    } <= set(collected.outlines)

    red = pytester.runpytest("-p", "no:cacheprovider")
    red.assert_outcomes(passed=3, failed=1)
    text = red.stdout.str()
    assert "status  expected 200, got 500" in text
    assert ROW_NOT_FOUND in text
    assert not (project / ".flux").exists()

    fix_signup(project)
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=4)


def test_off_without_tests_flux_at_the_rootdir_on_with_the_flag(
    saved: Path, pytester: pytest.Pytester
) -> None:
    """A service inside a larger repository: its cases run with `--flux`."""
    lay_out(saved, pytester.path / "services" / "shop")
    pytester.makepyfile(test_users=USER_TEST)

    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
    pytester.runpytest("-p", "no:cacheprovider", "--flux").assert_outcomes(passed=3, failed=1)


def test_a_case_file_that_does_not_parse_is_a_collection_error_with_its_line(
    saved: Path, pytester: pytest.Pytester
) -> None:
    project = lay_out(saved, pytester.path)
    (project / "tests" / "flux" / "broken.json").write_text('{\n  "flux_case": 1,\n  oops\n}\n')

    result = pytester.runpytest("-p", "no:cacheprovider")

    result.assert_outcomes(errors=1)
    assert (
        "tests/flux/broken.json:3: not valid JSON: Expecting property name enclosed in double "
        "quotes (column 3)"
    ) in result.stdout.lines
