#!/usr/bin/env bash
# Runs one fuzz target for a bounded time.
#   scripts/fuzz.sh TARGET [SECONDS]     SECONDS default 60; TARGET is one of
#     fuzz_wav, fuzz_resample   libFuzzer targets of the native core (tests/native/)
#     fuzz_decode_py            the atheris harness of the Python decode path
#                               (tests/fuzz/fuzz_decode.py; needs the test extras)
# Builds build/fuzz with clang (ASan + UBSan + libFuzzer) if needed, seeds the
# corpus in build/fuzz/corpus/TARGET from ../shared/testdata (generated, never
# committed), and prints "TARGET: N executions in S s".  A crash leaves its
# input in build/fuzz/artifacts/ and makes the exit status non-zero.
#   CC   the clang to use (default: clang)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET="${1:?usage: scripts/fuzz.sh fuzz_wav|fuzz_resample [SECONDS]}"
SECONDS_TO_RUN="${2:-60}"
BUILD="$ROOT/build/fuzz"
TESTDATA="$ROOT/../shared/testdata"
case "$TARGET" in
  fuzz_wav) MAX_LEN=65544 ;;        # 8 parameter bytes + 64 KiB of stream
  fuzz_resample) MAX_LEN=16396 ;;   # 12 parameter bytes + 8192 s16 samples
  fuzz_decode_py) MAX_LEN=32774 ;;  # 6 parameter bytes + 32 KiB of stream
  *) echo "unknown fuzz target '$TARGET' (fuzz_wav, fuzz_resample or fuzz_decode_py)" >&2; exit 2 ;;
esac
if [ "$TARGET" = fuzz_decode_py ]; then
  RUN=("${PYTHON:-python}" "$ROOT/tests/fuzz/fuzz_decode.py")
else
  CLANG="${CC:-clang}"
  command -v "$CLANG" >/dev/null || { echo "$CLANG not found: scripts/setup_env.sh test installs clang" >&2; exit 2; }
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_C_COMPILER="$CLANG" -DLUMEN_FUZZ=ON >/dev/null
  cmake --build "$BUILD" --target "$TARGET" -j "$(nproc)" >/dev/null
  RUN=("$BUILD/$TARGET")
fi

# Little-endian 32-bit value as printf escapes.
le32() { printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(($1 & 255)) $(($1 >> 8 & 255)) $(($1 >> 16 & 255)) $(($1 >> 24 & 255)); }

# Seed inputs: real recordings behind each target's parameter bytes.
seed_corpus() {
  local dir="$1" wav name
  mkdir -p "$dir"
  [ -n "$(ls -A "$dir")" ] && return 0
  for wav in "$TESTDATA"/*.wav; do
    [ -f "$wav" ] || continue
    name="$(basename "$wav" .wav)"
    if [ "$TARGET" = fuzz_decode_py ]; then
      # As a WAV stream (the raw parameters then do not matter), and its body as
      # raw PCM of each encoding at 16 kHz mono.
      { printf '\x00\x80\x3e\x00\x01\x00'; head -c 32768 "$wav"; } > "$dir/$name-wav"
      for encoding in 0 1 2 3 4 5; do
        { printf "\\x0$encoding"'\x80\x3e\x00\x01\x03'; head -c 8236 "$wav" | tail -c 8192; } > "$dir/$name-raw$encoding"
      done
    elif [ "$TARGET" = fuzz_wav ]; then
      # Raw s16 16 kHz mono parameters; chunking seeds 0, 1 and 2.
      for seed in 0 1 2; do
        { printf '\x01\x00\x00\x00'; printf "$(le32 "$seed")"; head -c 65536 "$wav"; } > "$dir/$name-seed$seed"
      done
      # The header cut at each boundary (RIFF, fmt header, fmt body, data
      # header) and just past it, with some audio after the longest.
      for cut in 4 12 20 36 44 45 300; do
        { printf '\x01\x00\x00\x00\x07\x00\x00\x00'; head -c "$cut" "$wav"; } > "$dir/$name-cut$cut"
      done
    else
      # 4 KiB of s16 samples (past the 44-byte header) at common rate pairs;
      # rates are encoded as rate - 8000.
      for pair in "48000 16000" "44100 16000" "8000 16000" "16000 48000" "22050 16000"; do
        set -- $pair
        { printf "$(le32 $(($1 - 8000)))$(le32 $(($2 - 8000)))$(le32 3)"; head -c 4140 "$wav" | tail -c 4096; } \
          > "$dir/$name-$1-$2"
      done
    fi
  done
}

CORPUS="$BUILD/corpus/$TARGET"
seed_corpus "$CORPUS"
mkdir -p "$BUILD/artifacts"
LOG="$BUILD/$TARGET.log"
status=0
"${RUN[@]}" -max_total_time="$SECONDS_TO_RUN" -max_len="$MAX_LEN" -timeout=30 -print_final_stats=1 \
  -artifact_prefix="$BUILD/artifacts/$TARGET-" "$CORPUS" >"$LOG" 2>&1 || status=$?
execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$LOG")"
if [ "$status" -ne 0 ]; then
  tail -n 40 "$LOG" >&2
  echo "$TARGET: FAILED after ${execs:-?} executions (log: $LOG, inputs: $BUILD/artifacts/)" >&2
  exit "$status"
fi
echo "$TARGET: ${execs:-?} executions in $SECONDS_TO_RUN s, corpus $(ls "$CORPUS" | wc -l) inputs"
