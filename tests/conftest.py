import functools
import inspect
import os

import pytest
import trio
import trio.testing
from hypothesis import HealthCheck, settings

settings.register_profile(
    "default", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("thorough", max_examples=5000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run ``async def`` tests under ``trio.run`` (no plugin needed)."""
    fn = pyfuncitem.obj
    if not inspect.iscoroutinefunction(fn) or pyfuncitem.get_closest_marker("trio"):
        return None
    kwargs = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    trio.run(functools.partial(fn, **kwargs), clock=kwargs.get("mock_clock"))
    return True


@pytest.fixture
def mock_clock() -> trio.testing.MockClock:
    """Trio's virtual clock for an async test that takes it: timeouts pass
    without waiting (set ``autojump_threshold``)."""
    return trio.testing.MockClock()
