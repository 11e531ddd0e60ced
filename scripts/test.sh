#!/usr/bin/env bash
# Set up Lumen in .venv with its test dependencies and run the whole test
# suite: native tests (plain, ASan+UBSan, bounded fuzzing), then pytest.
#   FUZZ_SECONDS  seconds per fuzz target (default 60)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$ROOT/scripts/setup_env.sh" test
cd "$ROOT"
bash scripts/native_tests.sh
python -m pytest "$@"
