"""A `flux serve` process per test module, with the example shop deployed to it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.harness import copy_shop
from tests.serve.helpers import ServeProcess, bundle_of


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    root = tmp_path_factory.mktemp("serve")
    server_dir = root / "server"
    server_dir.mkdir()
    shop = copy_shop(root)
    with ServeProcess(server_dir) as running, running.client() as client:
        r = client.post("/_flux/deploy", content=bundle_of(shop))
        assert r.status_code == 200, r.text
        yield running
