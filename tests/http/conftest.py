from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.http.harness import GatewayProcess


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    process = GatewayProcess(tmp_path_factory.mktemp("gateway") / "data").start()
    yield process
    process.stop()


@pytest.fixture
def own_gateway(tmp_path: Path) -> Iterator[GatewayProcess]:
    """A gateway for one test alone (restarts, special configs)."""
    process = GatewayProcess(tmp_path / "data")
    yield process
    process.stop()


@pytest.fixture
def username(request: pytest.FixtureRequest) -> str:
    """A username of this test's own: lower-case letters and digits."""
    name = "".join(c for c in request.node.name.lower() if c.isalnum())
    return ("u" + name)[:60]
