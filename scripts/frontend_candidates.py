"""Noise suppressors measured against DeepFilterNet 3 by ``eval_frontend.py``.

Thin :class:`~lumen.audio.frontend.Suppressor` wrappers over two libraries
that Lumen does not depend on (``pip install pyrnnoise webrtc-noise-gain``).
Delays were measured by cross-correlation (``eval_frontend.py`` prints the
residual lag of every candidate, which must be 0).
"""

from __future__ import annotations

import ctypes
import importlib.util
from pathlib import Path

import numpy as np

from lumen.audio.frontend import Suppressor
from lumen.errors import FrontEndError


class RNNoise(Suppressor):
    """RNNoise (Xiph) from the ``pyrnnoise`` wheel's ``librnnoise.so``, 48 kHz, 10 ms frames.

    The library is loaded directly: ``import pyrnnoise`` pulls in audiolab/PyAV
    for file resampling, which the stream does not need.
    """

    name = "rnnoise"
    rate = 48000
    frame = 480
    delay = 960  # 20 ms, measured

    def __init__(self) -> None:
        spec = importlib.util.find_spec("pyrnnoise")
        if spec is None or not spec.submodule_search_locations:
            raise FrontEndError("pyrnnoise is not installed")
        lib = ctypes.CDLL(str(Path(list(spec.submodule_search_locations)[0]) / "librnnoise.so"))
        lib.rnnoise_create.restype = ctypes.c_void_p
        lib.rnnoise_create.argtypes = [ctypes.c_void_p]
        lib.rnnoise_destroy.argtypes = [ctypes.c_void_p]
        lib.rnnoise_process_frame.restype = ctypes.c_float
        lib.rnnoise_process_frame.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_float),
                                              ctypes.POINTER(ctypes.c_float)]
        self._lib = lib
        self._state = lib.rnnoise_create(None)

    def process_frame(self, frame: np.ndarray) -> np.ndarray:
        scaled = np.ascontiguousarray(frame * 32768.0, dtype=np.float32)  # RNNoise works on s16 scale
        pointer = scaled.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
        self._lib.rnnoise_process_frame(self._state, pointer, pointer)
        return scaled / np.float32(32768.0)

    def close(self) -> None:
        if self._state:
            self._lib.rnnoise_destroy(self._state)
            self._state = None


class WebRtcNs(Suppressor):
    """WebRTC's noise suppression (``webrtc-noise-gain``), 16 kHz, 10 ms frames, s16.

    The library's own AGC is off (Lumen's AGC runs after every suppressor);
    its audio processing module always applies its high-pass too.
    """

    name = "webrtc-ns"
    rate = 16000
    frame = 160
    delay = 96  # 6 ms, measured

    def __init__(self, level: int = 2) -> None:
        from webrtc_noise_gain import AudioProcessor
        self._processor = AudioProcessor(0, level)

    def process_frame(self, frame: np.ndarray) -> np.ndarray:
        pcm = np.clip(np.round(frame * 32768.0), -32768, 32767).astype("<i2").tobytes()
        out = self._processor.Process10ms(pcm).audio
        return np.frombuffer(out, "<i2").astype(np.float32) / np.float32(32768.0)
