"""Fixtures of the regression-case tests: the recorded incident with cases saved from it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.cli.flux import flux
from tests.cli.incident import Incident


@pytest.fixture(scope="session")
def saved(incident: Incident, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the recorded project with three cases saved from its recordings with
    `flux test add`: the failed webhook (expecting 200), a created user, the onboarding job."""
    project = tmp_path_factory.mktemp("saved") / "shop"
    shutil.copytree(incident.project, project)
    for args in (
        ("--name", "webhook_before_signup", incident.failed_webhook, "--expect", "status=200"),
        ("--name", "create_user", incident.created_user),
        ("--name", "onboarding_job", incident.job),
    ):
        result = flux("test", "add", *args, "-p", str(project))
        assert result.code == 0, result.out + result.err
    return project
