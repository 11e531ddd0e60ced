#!/usr/bin/env bash
# Creates (or updates) the project virtualenv .venv and installs Lumen into it.
# Sourced by scripts/serve.sh and scripts/test.sh; needs only python3, gcc and cmake.
#   LUMEN_VENV   where the virtualenv lives (default: .venv in the repository)
#   $1 = "test"  also install the test extras and the Debian packages the tests need
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${LUMEN_VENV:-$ROOT/.venv}"
MODE="${1:-serve}"

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
# shellcheck disable=SC1091
. "$VENV/bin/activate"
python -m pip install --quiet --upgrade pip setuptools wheel

# torch first, pinned to the CPU build: anything that depends on torch and
# finds none would otherwise pull a multi-GB CUDA build.
python -m pip install --quiet "torch==2.13.0"
# resemblyzer only for its weights; its own dependencies pull the 2017
# source-only webrtcvad, which clashes with webrtcvad-wheels.
python -m pip install --quiet --no-deps "resemblyzer==0.1.4"
# NeMo only for its clustering file (needs just torch); its dependencies are ~1.3 GB.
python -m pip install --quiet --no-deps "nemo_toolkit==3.0.0"

if [ "$MODE" = "test" ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    missing=""
    for pkg in clang libclang-rt-14-dev chromium chromium-driver nginx espeak-ng postgresql \
               asterisk-core-sounds-es-wav asterisk-core-sounds-fr-wav; do
      dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
    done
    if [ -n "$missing" ]; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
    fi
  fi
  python -m pip install --quiet -e "$ROOT[test]"
else
  python -m pip install --quiet "$ROOT"
fi
