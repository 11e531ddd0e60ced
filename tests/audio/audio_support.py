"""Helpers for the audio-core tests and scripts/bench_core.py: reading the
shared recordings, building WAV files byte by byte, and measuring a
resampler's quality (tone gain, aliasing, SNR against an exact reference)."""

from __future__ import annotations

import struct
import wave
from pathlib import Path

import numpy as np

#: The tail of the KSDATAFORMAT_SUBTYPE GUIDs after the 2-byte format tag.
SUBFORMAT_TAIL = bytes.fromhex("000000001000800000aa00389b71")


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """A 16-bit WAV as float32 in [-1, 1) (channels averaged) and its rate, via the stdlib."""
    with wave.open(str(path)) as wav:
        assert wav.getsampwidth() == 2
        frames = np.frombuffer(wav.readframes(wav.getnframes()), "<i2").astype(np.float32) / 32768
        return frames.reshape(-1, wav.getnchannels()).mean(axis=1, dtype=np.float32), wav.getframerate()


def chunk(chunk_id: bytes, body: bytes, size: int | None = None) -> bytes:
    """A RIFF chunk (with its pad byte when the body is odd); ``size`` overrides the declared size."""
    return chunk_id + struct.pack("<I", len(body) if size is None else size) + body + b"\0" * (len(body) & 1)


def fmt_chunk(tag: int, channels: int, rate: int, bits: int, extensible: bool = False,
              block_align: int | None = None) -> bytes:
    align = channels * bits // 8 if block_align is None else block_align
    body = struct.pack("<HHIIHH", 0xFFFE if extensible else tag, channels, rate, rate * align, align, bits)
    if extensible:
        body += struct.pack("<HHIH", 22, bits, (1 << channels) - 1, tag) + SUBFORMAT_TAIL
    return chunk(b"fmt ", body)


def wav_bytes(audio: bytes, tag: int = 1, channels: int = 1, rate: int = 16000, bits: int = 16, *,
              before: bytes = b"", after: bytes = b"", extensible: bool = False,
              data_size: int | None = None) -> bytes:
    """A RIFF/WAVE file: ``before`` chunks, fmt, data (``data_size`` overrides its size), ``after``."""
    body = (b"WAVE" + before + fmt_chunk(tag, channels, rate, bits, extensible)
            + chunk(b"data", audio, data_size) + after)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def decode_in_pieces(decoder, data: bytes, cuts) -> np.ndarray:
    """Feeds ``data`` to an AudioDecoder split at the sorted offsets ``cuts``, then finishes it."""
    bounds = [0, *cuts, len(data)]
    parts = [decoder.feed(data[a:b]) for a, b in zip(bounds, bounds[1:])]
    decoder.finish()
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)


def tone(freq: float, rate: int, n: int, amplitude: float = 0.5) -> np.ndarray:
    """amplitude * sin(2 pi freq t) at t = i / rate, float64."""
    return amplitude * np.sin(2 * np.pi * freq * np.arange(n) / rate)


def level_db(x: np.ndarray, reference_rms: float) -> float:
    """RMS of ``x`` relative to ``reference_rms``, in dB."""
    return 20 * np.log10(max(float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))), 1e-300) / reference_rms)


def snr_db(reference: np.ndarray, actual: np.ndarray) -> float:
    """Signal-to-error ratio of ``actual`` against ``reference`` (same length), in dB."""
    reference = np.asarray(reference, np.float64)
    error = np.asarray(actual, np.float64) - reference
    return 10 * np.log10(np.sum(reference ** 2) / max(float(np.sum(error ** 2)), 1e-300))


def tone_gain_db(y: np.ndarray, freq: float, rate: int, skip: int) -> float:
    """Gain of a 0.5-amplitude tone after resampling: least-squares fit at ``freq``, ``skip`` samples off each end."""
    t = np.arange(skip, y.size - skip) / rate
    basis = np.stack([np.sin(2 * np.pi * freq * t), np.cos(2 * np.pi * freq * t)], axis=1)
    coef = np.linalg.lstsq(basis, y[skip:y.size - skip].astype(np.float64), rcond=None)[0]
    return 20 * np.log10(np.hypot(*coef) / 0.5)


def bandlimited_speech(speech16k: np.ndarray, rate: int, cutoff: float = 7000.0) -> tuple[np.ndarray, np.ndarray]:
    """Exact test material for real speech: the 16 kHz recording low-passed to ``cutoff``
    (an FFT brick wall) and the same band-limited signal at ``rate`` (FFT zero padding).
    Converting the second to 16 kHz should give the first; the length is trimmed to a
    multiple of 16000/gcd so both lengths are whole."""
    step = 16000 // np.gcd(16000, rate)
    x = speech16k[: speech16k.size // step * step].astype(np.float64)
    spectrum = np.fft.rfft(x)
    spectrum[np.fft.rfftfreq(x.size, 1 / 16000) > cutoff] = 0
    low16k = np.fft.irfft(spectrum, x.size)
    n_rate = x.size * rate // 16000
    padded = np.zeros(n_rate // 2 + 1, complex)
    padded[: spectrum.size] = spectrum
    high = np.fft.irfft(padded, n_rate) * (n_rate / x.size)
    return low16k, high
