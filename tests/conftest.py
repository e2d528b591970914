"""Shared fixtures: a fresh copy of the example shop for each test."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness import copy_shop


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    return copy_shop(tmp_path)
