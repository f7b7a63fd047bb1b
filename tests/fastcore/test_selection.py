"""Which implementation ``import _fastcore`` gives, and that the compiled one
releases the GIL while it hashes."""

import os
import subprocess
import sys
import threading

import pytest

import _fastcore
from _fastcore import compiled


def run(code, **env):
    environment = {k: v for k, v in os.environ.items() if k != "GATEWAY_NO_EXTENSIONS"}
    environment.update(env)
    result = subprocess.run(
        [sys.executable, "-W", "always", "-c", code],
        capture_output=True,
        text=True,
        env=environment,
        check=True,
    )
    return result.stdout.strip(), result.stderr


def test_default_import_is_compiled():
    stdout, _ = run("import _fastcore; print(_fastcore.IMPLEMENTATION, _fastcore.hotp.__module__)")
    assert stdout == "compiled _fastcore._hmac"


def test_environment_switch_selects_pure():
    stdout, _ = run(
        "import _fastcore; print(_fastcore.IMPLEMENTATION, _fastcore.hotp.__module__)",
        GATEWAY_NO_EXTENSIONS="1",
    )
    assert stdout == "pure _fastcore.pure"


def test_failed_compiled_import_falls_back_with_a_warning():
    stdout, stderr = run(
        "import sys; sys.modules['_fastcore._hmac'] = None\n"
        "import _fastcore; print(_fastcore.IMPLEMENTATION)"
    )
    assert stdout == "pure"
    assert "RuntimeWarning" in stderr and "compiled _fastcore is unavailable" in stderr


def test_package_exports_the_whole_api():
    for name in _fastcore.__all__:
        assert getattr(_fastcore, name) is not None


@pytest.mark.parametrize("algorithm", ["sha1", "sha512"])
def test_compiled_hashing_releases_the_gil(algorithm):
    key = compiled.HmacKey(b"gil", algorithm)
    started = threading.Event()
    outcome = []

    def hash_a_lot():
        started.set()
        outcome.append(compiled.hotp_loop(key, 2_000_000))

    worker = threading.Thread(target=hash_a_lot)
    worker.start()
    started.wait()
    spins = 0
    while worker.is_alive():
        spins += 1
    worker.join()
    assert outcome
    # With the GIL held through the loop this thread could not run until the
    # loop ended; released, it spins the whole time the worker hashes.
    assert spins > 10_000
