"""Shared fixtures: a fresh copy of the example shop for each test, the recorded incident the
command and analysis tests read (recorded once per session), and an environment without a
Stripe webhook secret for the modules that opt in."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.cli.incident import Incident, record_incident
from tests.harness import copy_shop


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    return copy_shop(tmp_path)


@pytest.fixture(scope="session")
def incident(tmp_path_factory: pytest.TempPathFactory) -> Incident:
    return asyncio.run(record_incident(tmp_path_factory.mktemp("incident")))


@pytest.fixture
def no_env_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """The webhook secret comes from the shop's flux.toml, not the developer's environment
    (modules opt in with `pytestmark = pytest.mark.usefixtures("no_env_secret")`)."""
    monkeypatch.delenv("STRIPE_WEBHOOK_SECRET", raising=False)
