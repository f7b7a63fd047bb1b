"""Declares the compiled ``_fastcore`` extensions; metadata lives in pyproject.toml."""

import os

from Cython.Build import cythonize
from setuptools import Extension, setup

# The low-level SHA interfaces are deprecated (not removed) in OpenSSL 3; they are
# what lets an HMAC state be precomputed and copied by value.
COMPILE_ARGS = ["-O3", "-Wno-deprecated-declarations"]


def extension(name: str) -> Extension:
    return Extension(
        f"_fastcore.{name}",
        [os.path.join("src", "_fastcore", f"{name}.pyx")],
        libraries=["crypto"],
        extra_compile_args=COMPILE_ARGS,
    )


setup(
    ext_modules=cythonize(
        [extension("_hmac"), extension("_ocra"), extension("_buckets")],
        compiler_directives={"language_level": 3, "embedsignature": True},
        include_path=["src"],
    ),
)
