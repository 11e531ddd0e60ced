"""Builds the native audio core (``core/``) as the extension ``lumen._core``.

Metadata lives in pyproject.toml; this file only describes the extension, so
that ``pip install .`` and ``pip wheel .`` compile the same C sources that
CMakeLists.txt builds for native tests, sanitizers and fuzzers.
"""

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

CORE_SOURCES = ["core/ring.c", "core/resample.c", "core/wav.c", "core/pcm.c", "core/mel.c"]

extension = Extension(
    "lumen._core",
    sources=["core/_core.pyx", *CORE_SOURCES],
    include_dirs=["core", numpy.get_include()],
    define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    extra_compile_args=["-O3", "-std=c11"],
)

setup(ext_modules=cythonize([extension], language_level=3))
