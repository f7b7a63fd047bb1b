"""Every test of the core runs against both implementations.

The compiled one must be importable: a missing build is an error here, never
a skip.
"""

import types

import pytest

from _fastcore import compiled, pure

IMPLEMENTATIONS = {"compiled": compiled, "pure": pure}


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def core(request: pytest.FixtureRequest) -> types.ModuleType:
    return IMPLEMENTATIONS[request.param]
