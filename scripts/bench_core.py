#!/usr/bin/env python
"""Benchmark of the native audio core beside its references, in one run.

  python scripts/bench_core.py [--seconds 10] [--repeats 7]

Prints three tables:
  1. resampler throughput (input samples per second, median of the repeats)
     for 8k/44.1k/48k/96k -> 16 kHz, one-shot and in 20 ms chunks, beside
     soxr HQ one-shot (soxr.resample) and chunked (soxr.ResampleStream);
  2. resampler quality for 48k and 44.1k -> 16 kHz beside soxr HQ: passband
     ripple, worst aliasing of stopband tones, SNR on a sine sweep and on
     real speech (jfk.wav band-limited to 7 kHz, so the exact answer is known);
  3. decoder throughput for s16/s24/f32/mu-law WAV beside the numpy
     conversion (np.frombuffer and friends) of the same bytes.
Performance claims live here, never in tests: the machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import soxr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "audio"))

from audio_support import (bandlimited_speech, level_db, read_wav, snr_db, tone,  # noqa: E402
                           tone_gain_db, wav_bytes)
from lumen.audio.decoder import AudioDecoder  # noqa: E402
from lumen.audio.resampler import StreamResampler, resample  # noqa: E402

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

TESTDATA = ROOT / ".." / "shared" / "testdata"
RATES = (8000, 44100, 48000, 96000)


def median_seconds(fn, repeats: int) -> float:
    fn()  # warm up (tables, caches)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def lumen_chunked(x: np.ndarray, rate: int, chunk: int) -> None:
    stream = StreamResampler(rate)
    for i in range(0, x.size, chunk):
        stream.process(x[i:i + chunk])
    stream.flush()


def soxr_chunked(x: np.ndarray, rate: int, chunk: int) -> None:
    stream = soxr.ResampleStream(rate, 16000, 1, dtype="float32", quality="HQ")
    for i in range(0, x.size, chunk):
        stream.resample_chunk(x[i:i + chunk], last=i + chunk >= x.size)


def throughput_table(seconds: float, repeats: int) -> None:
    print("\nResampler throughput, input Msamples/s (median of %d runs of %.0f s of audio)" % (repeats, seconds))
    print(f"{'in -> 16k':>10} | {'lumen':>7} {'soxr HQ':>8} {'ratio':>6} | "
          f"{'lumen 20ms':>10} {'soxr 20ms':>10} {'ratio':>6} | taps")
    rng = np.random.default_rng(0)
    for rate in RATES:
        x = (rng.standard_normal(int(rate * seconds)) * 0.1).astype(np.float32)
        chunk = rate // 50
        speed = {
            name: x.size / median_seconds(fn, repeats) / 1e6
            for name, fn in (
                ("lumen", lambda: resample(x, rate)),
                ("soxr", lambda: soxr.resample(x, rate, 16000, quality="HQ")),
                ("lumen20", lambda: lumen_chunked(x, rate, chunk)),
                ("soxr20", lambda: soxr_chunked(x, rate, chunk)),
            )
        }
        print(f"{rate:>10} | {speed['lumen']:7.1f} {speed['soxr']:8.1f} {speed['lumen'] / speed['soxr']:6.2f} | "
              f"{speed['lumen20']:10.1f} {speed['soxr20']:10.1f} {speed['lumen20'] / speed['soxr20']:6.2f} | "
              f"{StreamResampler(rate).taps}")


def sweep(rate: int, seconds: float, f0: float = 50.0, f1: float = 7000.0) -> np.ndarray:
    """Exponential sine sweep f0 -> f1 Hz, amplitude 0.5, sampled at ``rate``."""
    t = np.arange(int(rate * seconds)) / rate
    k = math.log(f1 / f0) / seconds
    return 0.5 * np.sin(2 * math.pi * f0 / k * (np.exp(k * t) - 1))


def quality_rows(rate: int, convert) -> dict[str, float]:
    """The quality figures of one converter ``convert(x, rate) -> 16 kHz``."""
    skip = 1000
    gains = [tone_gain_db(convert(tone(f, rate, rate), rate), f, 16000, skip)
             for f in np.linspace(100, 7200, 25)]
    nyquist = rate / 2
    aliasing = max(level_db(convert(tone(f, rate, rate), rate)[skip:-skip], 0.5 / math.sqrt(2))
                   for f in np.linspace(8100, nyquist - 200, 20))
    ideal = sweep(16000, 4.0)
    sweep_snr = snr_db(ideal[skip:-skip], convert(sweep(rate, 4.0), rate)[skip:ideal.size - skip])
    speech, _ = read_wav(TESTDATA / "jfk.wav")
    reference, high = bandlimited_speech(speech, rate)
    speech_snr = snr_db(reference[1600:-1600], convert(high, rate)[1600:-1600])
    return {"passband ripple (dB, 0.1-7.2 kHz)": max(gains) - min(gains),
            "worst aliasing (dB, 8.1 kHz-Nyquist)": aliasing,
            "sine sweep SNR (dB)": sweep_snr,
            "speech SNR (dB, jfk <7 kHz)": speech_snr}


def quality_table() -> None:
    print("\nResampler quality beside soxr HQ (float32 in and out)")
    print(f"{'':>11} {'metric':<38} | {'lumen':>9} {'soxr HQ':>9} {'diff':>7}")
    ours = lambda x, rate: resample(x.astype(np.float32), rate)  # noqa: E731
    theirs = lambda x, rate: soxr.resample(x.astype(np.float32), rate, 16000, quality="HQ")  # noqa: E731
    for rate in (48000, 44100):
        a, b = quality_rows(rate, ours), quality_rows(rate, theirs)
        for metric in a:
            fmt = "9.6f" if "ripple" in metric else "9.1f"
            print(f"{rate:>7}->16k {metric:<38} | {a[metric]:{fmt}} {b[metric]:{fmt}} {a[metric] - b[metric]:7.1f}")


def numpy_reference(data: bytes, encoding: str) -> np.ndarray:
    """The plain numpy conversion of raw sample bytes to float32 (what the decoder replaces)."""
    if encoding == "pcm_s16le":
        return np.frombuffer(data, "<i2").astype(np.float32) / 32768
    if encoding == "pcm_s24le":
        b = np.frombuffer(data, np.uint8).reshape(-1, 3).astype(np.int32)
        return ((b[:, 0] << 8 | b[:, 1] << 16 | b[:, 2] << 24) >> 8).astype(np.float32) / 8388608
    if encoding == "pcm_f32le":
        return np.clip(np.nan_to_num(np.frombuffer(data, "<f4"), nan=0, posinf=0, neginf=0), -1, 1)
    table = np.frombuffer(audioop.ulaw2lin(bytes(range(256)), 2), "<i2").astype(np.float32) / 32768
    return table[np.frombuffer(data, np.uint8)]


def decode_table(seconds: float, repeats: int) -> None:
    print("\nDecoder throughput, Msamples/s (48 kHz mono WAV, %.0f s, median of %d runs)" % (seconds, repeats))
    print(f"{'encoding':>10} | {'lumen':>7} {'lumen 20ms':>10} {'numpy':>7} {'ratio':>6}")
    speech, _ = read_wav(TESTDATA / "sample.wav")
    x = np.resize(speech, int(48000 * seconds)).astype(np.float64)
    formats = {
        "pcm_s16le": (1, 16, np.round(x * 32767).astype("<i2").tobytes()),
        "pcm_s24le": (1, 24, np.round(x * 8388607).astype("<i4").view(np.uint8).reshape(-1, 4)[:, :3].tobytes()),
        "pcm_f32le": (3, 32, x.astype("<f4").tobytes()),
        "mulaw": (7, 8, audioop.lin2ulaw(np.round(x * 32767).astype("<i2").tobytes(), 2)),
    }
    for encoding, (tag, bits, audio) in formats.items():
        data = wav_bytes(audio, tag, 1, 48000, bits)
        step = 48000 // 50 * bits // 8

        def one_shot() -> None:
            decoder = AudioDecoder()
            decoder.feed(data)
            decoder.finish()

        def chunked() -> None:
            decoder = AudioDecoder()
            for i in range(0, len(data), step):
                decoder.feed(data[i:i + step])
            decoder.finish()

        lumen = x.size / median_seconds(one_shot, repeats) / 1e6
        lumen20 = x.size / median_seconds(chunked, repeats) / 1e6
        ref = x.size / median_seconds(lambda: numpy_reference(audio, encoding), repeats) / 1e6
        print(f"{encoding:>10} | {lumen:7.1f} {lumen20:10.1f} {ref:7.1f} {lumen / ref:6.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="audio per throughput run")
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per figure (median; at least 5)")
    args = parser.parse_args()
    repeats = max(args.repeats, 5)
    throughput_table(args.seconds, repeats)
    quality_table()
    decode_table(args.seconds, repeats)


if __name__ == "__main__":
    main()
