from __future__ import annotations

import functools
import inspect

import pytest
import trio


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run ``async def`` tests under ``trio.run`` (no plugin needed)."""
    fn = pyfuncitem.obj
    if not inspect.iscoroutinefunction(fn) or pyfuncitem.get_closest_marker("trio"):
        return None
    kwargs = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    trio.run(functools.partial(fn, **kwargs))
    return True
