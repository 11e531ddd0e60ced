#!/usr/bin/env bash
# Set up Lumen in .venv, prepare the embedded default model, and run the server.
# Arguments go to `lumen serve` (e.g. --dev, --port 9000).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$ROOT/scripts/setup_env.sh" serve
lumen models prepare "${LUMEN_MODEL:-tiny.en}"
exec lumen serve "$@"
