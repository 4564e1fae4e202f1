#!/usr/bin/env bash
# Build cxent with AddressSanitizer and UBSan (Cython bounds checks on) in a scratch copy of this
# working tree and run the test suite under it; arguments go to pytest (default: the whole suite).
#   tools/asan.sh                      # everything
#   tools/asan.sh tests/test_hardening.py -x
# Python itself is not instrumented: the sanitizer runtimes are preloaded.  Leak detection is
# off (CPython keeps memory at exit on purpose; tests/test_leaks.py measures growth instead).
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/cxent-asan.XXXXXX")
[ -n "${KEEP:-}" ] || trap 'rm -rf "$work"' EXIT
(cd "$src" && git ls-files -co --exclude-standard -z | grep -zv '\.c$' | xargs -0 cp --parents -t "$work")
cd "$work"
# the build requirements (pyproject.toml), which a plain venv may lack (pip builds in isolation)
python -c "import Cython, setuptools" 2>/dev/null || python -m pip install --quiet "Cython>=3.0" "setuptools>=64"
export CFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
export LDFLAGS="-fsanitize=address,undefined"
CXENT_CYTHON_DEBUG=1 python setup.py -q build_ext -i 2>&1 | grep -v "^warning\|^  \|^$" || true
python - <<'PY'
import ast, pathlib
info = ast.literal_eval(pathlib.Path("cxent/_build_info.py").read_text().split("BUILD_INFO = ", 1)[1])
assert info["openmp"], f"the sanitizer build came out without OpenMP: {info}"
print("sanitizer build:", info["extra_compile_args"])
PY
for so in cxent/_lib/*.so; do
    nm -D "$so" | grep __asan_report >/dev/null || { echo "$so is not instrumented" >&2; exit 1; }
done
export LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)"
export CXENT_OUTPUT_CACHE=0  # large outputs from malloc, inside ASan's redzones (test_output_cache.py turns the cache on)
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:allocator_may_return_null=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export PYTHONPATH="$work"
python -c "import cxent, sys; assert cxent.__file__.startswith('$work'), cxent.__file__"
python -m pytest -q -p no:cacheprovider "${@:-tests}"
