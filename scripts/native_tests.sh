#!/usr/bin/env bash
# Native tests of the audio core (core/*.c), from a clean clone with gcc and
# cmake (plus clang for fuzzing: scripts/setup_env.sh test installs it):
#   1. build/native    C unit tests (ctest)
#   2. build/sanitize  the same tests under ASan + UBSan (LUMEN_SANITIZE=ON)
#   3. build/fuzz      each libFuzzer target for FUZZ_SECONDS (default 60),
#                      seeded from ../shared/testdata (scripts/fuzz.sh)
# Ends with "native: N passed, M failed" (ctest tests and fuzz runs) and a
# non-zero status when anything failed.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
FUZZ_SECONDS="${FUZZ_SECONDS:-60}"
JOBS="$(nproc 2>/dev/null || echo 2)"
passed=0
failed=0

# Configures, builds and runs ctest in $1 with the cmake options that follow;
# adds ctest's counts to the totals (a failed build counts as one failure).
ctest_in() {
  local dir="$1" log
  shift
  echo "== $dir"
  if ! cmake -S "$ROOT" -B "$dir" "$@" >/dev/null || ! cmake --build "$dir" -j "$JOBS" >"$dir/build.log" 2>&1; then
    cat "$dir/build.log" 2>/dev/null | tail -n 30
    echo "native: build of $dir failed" >&2
    failed=$((failed + 1))
    return
  fi
  log="$(cd "$dir" && ctest --output-on-failure 2>&1)"
  echo "$log" | grep -E "Test +#|tests passed|Failed|checks" || true
  local total fail
  total="$(echo "$log" | sed -n 's/.*tests failed out of \([0-9]*\).*/\1/p')"
  fail="$(echo "$log" | sed -n 's/.*, \([0-9]*\) tests failed out of.*/\1/p')"
  if [ -z "$total" ]; then
    echo "$log" | tail -n 30
    failed=$((failed + 1))
    return
  fi
  passed=$((passed + total - fail))
  failed=$((failed + fail))
}

ctest_in build/native
ctest_in build/sanitize -DLUMEN_SANITIZE=ON

if command -v clang >/dev/null; then
  for target in fuzz_wav fuzz_resample; do
    echo "== $target (${FUZZ_SECONDS} s)"
    if CC=clang bash scripts/fuzz.sh "$target" "$FUZZ_SECONDS"; then
      passed=$((passed + 1))
    else
      failed=$((failed + 1))
    fi
  done
else
  echo "== fuzzing not run: clang not found (scripts/setup_env.sh test installs clang and libclang-rt-14-dev)"
fi

echo "native: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
