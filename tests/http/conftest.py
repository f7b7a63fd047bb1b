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


@pytest.fixture(autouse=True)
def no_server_errors(request: pytest.FixtureRequest) -> Iterator[None]:
    """Whatever a test sends, the gateway logs no unhandled error."""
    gateways = [
        request.getfixturevalue(name) for name in ("gateway",) if name in request.fixturenames
    ]
    before = [len(g.output) for g in gateways]
    yield
    for gateway, start in zip(gateways, before, strict=True):
        logged = "".join(gateway.output[start:])
        assert "Traceback" not in logged and "unhandled error" not in logged, logged
