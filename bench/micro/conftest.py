import pytest

from _fastcore import compiled, pure

IMPLEMENTATIONS = {"compiled": compiled, "pure": pure}


@pytest.fixture(scope="session", autouse=True)
def compiled_core_is_built():
    assert compiled.IMPLEMENTATION == "compiled"
