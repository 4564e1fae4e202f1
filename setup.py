"""Build of cxent's Cython kernels.

Only the extension list lives here: compiler directives, the OpenMP probe and the CXENT_* switches.
- OpenMP is probed by compiling a tiny program; without it the kernels run serially (``prange`` becomes
  ``range``) and the build still succeeds.  ``CXENT_OPENMP=0`` disables it explicitly.
- No ``-march=native`` and no ``-ffast-math``: what ships runs on any x86-64 and keeps IEEE semantics
  (fast-math would flush subnormals for the whole Python process and break -inf/nan handling).
- ``CXENT_CYTHON_DEBUG=1`` turns bounds checks and wraparound back on for debugging.
- ``CXENT_RELEASE=1`` (``tools/build_wheels.sh``): no debug information (``-g0``).
- On x86-64 glibc Linux, ``_lib/_glibc_compat.h`` is force-included: libm's ``exp``/``log`` bind to
  their oldest symbol versions, so the extensions run on any glibc since 2.14 (manylinux2014).
"""

import os
import platform
import shlex
import sys
import tempfile
import textwrap

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

KERNELS = ["_rows", "_softmax", "_losses", "_binary"]  # _rows: the shared engine (_simd.h)


def _openmp_flags(compiler):
    """(compile_args, link_args) enabling OpenMP if ``compiler`` supports it, else ([], [])."""
    if os.environ.get("CXENT_OPENMP", "1") == "0":
        return [], []
    if compiler.compiler_type == "msvc":
        candidates = [(["/openmp"], [])]
    else:
        candidates = [(["-fopenmp"], ["-fopenmp"]), (["-Xpreprocessor", "-fopenmp"], ["-lomp"])]
    src = "#include <omp.h>\nint main(void){ return omp_get_max_threads() > 0 ? 0 : 1; }\n"
    # The extensions are linked with CFLAGS and LDFLAGS (distutils' LDSHARED gets both), the probe
    # executable only with what we pass: the same flags, so that e.g. CFLAGS=-fsanitize=address
    # links its runtime into the probe too.
    env_flags = shlex.split(os.environ.get("CFLAGS", "")) + shlex.split(os.environ.get("LDFLAGS", ""))
    errors = []
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "probe.c")
        with open(path, "w") as f:
            f.write(src)
        for cflags, ldflags in candidates:
            try:
                objs = compiler.compile([path], output_dir=tmp, extra_postargs=cflags)
                compiler.link_executable(objs, "probe", output_dir=tmp,
                                         extra_postargs=ldflags + env_flags)
                return cflags, ldflags
            except Exception as exc:  # noqa: BLE001 - any failure means "not this way"
                errors.append(f"{' '.join(cflags)}: {exc}")
    print("cxent: the OpenMP probe failed, building without OpenMP threads (the kernels run "
          "serially; cxent.show_config() reports openmp False):\n  " + "\n  ".join(errors),
          file=sys.stderr)
    return [], []


def _supported(compiler, flags):
    """The subset of ``flags`` the compiler accepts (each probed alone on an empty C file)."""
    ok = []
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "flag.c")
        with open(path, "w") as f:
            f.write("int main(void) { return 0; }\n")
        for flag in flags:
            try:
                compiler.compile([path], output_dir=tmp, extra_postargs=[flag])
                ok.append(flag)
            except Exception:  # noqa: BLE001 - the flag is not supported
                pass
    return ok


class BuildExt(build_ext):
    def build_extensions(self):
        cflags, ldflags = _openmp_flags(self.compiler)
        if self.compiler.compiler_type == "msvc":
            opt = ["/O2"]
        else:
            # -fopenmp-simd: honour `#pragma omp simd` in _simd.h even without OpenMP threads;
            # -fno-trapping-math: lets the branch-free selects of the polynomial exp vectorise
            # (results are unchanged: it only assumes nobody inspects floating-point exceptions).
            opt = ["-O3"] + _supported(self.compiler, ["-fopenmp-simd", "-fno-trapping-math"])
            if os.environ.get("CXENT_RELEASE", "0") == "1":
                opt.append("-g0")
            if sys.platform.startswith("linux") and platform.machine() == "x86_64":
                opt += ["-include", os.path.join("cxent", "_lib", "_glibc_compat.h")]
        info = dict(
            openmp=bool(cflags),
            compiler=" ".join(getattr(self.compiler, "compiler_so", [self.compiler.compiler_type])),
            extra_compile_args=" ".join(opt + cflags),
        )
        for ext in self.extensions:
            ext.extra_compile_args = opt + cflags + ext.extra_compile_args
            ext.extra_link_args = ldflags + ext.extra_link_args
        # Into the source tree (in-place and editable builds) and into build_lib (wheels).
        for pkgdir in {"cxent", os.path.join(self.build_lib, "cxent")}:
            _write_build_info(pkgdir, info)
        super().build_extensions()


def _write_build_info(pkgdir, info):
    os.makedirs(pkgdir, exist_ok=True)
    with open(os.path.join(pkgdir, "_build_info.py"), "w") as f:
        f.write('"""Written by setup.py at build time: how the kernels were compiled."""\n\n')
        f.write(f"BUILD_INFO = {info!r}\n")


debug = os.environ.get("CXENT_CYTHON_DEBUG", "0") == "1"
directives = dict(
    language_level=3,
    boundscheck=debug,
    wraparound=debug,
    initializedcheck=debug,
    cdivision=True,
    embedsignature=True,
)

extensions = [
    Extension(
        f"cxent._lib.{name}",
        [f"cxent/_lib/{name}.pyx"],
        include_dirs=[np.get_include(), "cxent/_lib"],
        # built against NumPy 2 (pyproject.toml), runs with NumPy >= 1.25 (the runtime dependency)
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_9_API_VERSION"),
                       ("NPY_TARGET_VERSION", "NPY_1_25_API_VERSION")],
        libraries=[] if sys.platform == "win32" else ["m"],
    )
    for name in KERNELS
]

setup(
    ext_modules=cythonize(extensions, compiler_directives=directives),
    cmdclass={"build_ext": BuildExt},
)
