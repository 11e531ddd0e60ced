#!/usr/bin/env bash
# Set up Lumen in .venv with its test dependencies and run the whole test
# suite: native tests (plain, ASan+UBSan, bounded fuzzing), the atheris
# harness of the Python decode path (bounded), then pytest.
#   FUZZ_SECONDS  seconds per fuzz target (default 60)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$ROOT/scripts/setup_env.sh" test
cd "$ROOT"
bash scripts/native_tests.sh
bash scripts/fuzz.sh fuzz_decode_py "${FUZZ_SECONDS:-60}"
python -m pytest "$@"
