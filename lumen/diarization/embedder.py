"""Speaker embeddings: the GE2E voice encoder shipped in the ``resemblyzer`` wheel.

The network is re-created here (3-layer LSTM 40 -> 256, linear 256 -> 256,
ReLU, L2 norm, as resemblyzer's ``voice_encoder.py``) and loaded from the
package's ``pretrained.pt`` without importing resemblyzer, whose package
imports librosa and the source-only webrtcvad at import time.  Its input is
the *power* (not log) mel spectrogram of 16 kHz audio, computed by the native
core (:mod:`lumen.audio.mel`).

Thread-safety: one :class:`SpeakerEmbedder` serves every session.  ``embed``
only reads the model (eval mode, no autograd), so it may be called from
several threads at once; give each thread ``torch.set_num_threads(1)`` (the
:class:`~lumen.diarization.diarizer.Diarizer` pool does) so sessions do not
oversubscribe the cores.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections import defaultdict
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

# torch runs the LSTM on CPU through oneDNN, which keeps one compiled primitive
# per input shape in a process-wide cache of 1024 by default (~0.25 MiB each).
# Windows and batches come in many shapes (window length x batch size), so a
# long-running server grew by ~4 MiB per handful of sessions until the cache
# filled (the soak in docs/security.md).  32 entries bound it at the same speed
# (measured: 7.9 ms against 8.3 ms per 1.5 s window; 0 entries costs ~10 %).
# oneDNN reads this at its first primitive, so setting it before any embedding
# is enough; an explicit setting in the environment wins.
os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "32")

from lumen.audio.mel import MelOptions, MelSpectrogram
from lumen.errors import DiarizationError

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
EMBEDDING_SIZE = 256
_MEL = MelOptions(sample_rate=SAMPLE_RATE, n_fft=400, hop=160, n_mels=40)
_HIDDEN = 256
_LAYERS = 3
#: resemblyzer raises quieter utterances to this level before embedding (it
#: never lowers louder ones); the encoder sees linear power, so the level
#: matters.  Windows are treated the same way.  Measured: also lowering loud
#: windows (full normalisation) split jfk.wav's one noisy speaker in two in 4
#: of 6 streamed runs; raising only never did, and kept sample.wav at 2.
_TARGET_DBFS = -30.0
_SILENCE_RMS = 1e-5


class _VoiceEncoder(torch.nn.Module):
    """GE2E encoder; attribute names match the keys of ``pretrained.pt``."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = torch.nn.LSTM(_MEL.n_mels, _HIDDEN, _LAYERS, batch_first=True)
        self.linear = torch.nn.Linear(_HIDDEN, EMBEDDING_SIZE)

    def forward(self, mels: torch.Tensor) -> torch.Tensor:
        _, (hidden, _) = self.lstm(mels)
        raw = torch.relu(self.linear(hidden[-1]))
        return raw / torch.linalg.vector_norm(raw, dim=1, keepdim=True).clamp_min(1e-12)


def default_weights() -> Path:
    """``pretrained.pt`` inside the installed resemblyzer package (found without importing it)."""
    spec = importlib.util.find_spec("resemblyzer")
    if spec is None or not spec.submodule_search_locations:
        raise DiarizationError(
            "speaker encoder weights not found: install them with "
            "`pip install --no-deps resemblyzer==0.1.4` (scripts/setup_env.sh does)")
    return Path(next(iter(spec.submodule_search_locations))) / "pretrained.pt"


class SpeakerEmbedder:
    """Maps 16 kHz float32 speech windows to 256-d L2-normalised speaker embeddings."""

    def __init__(self, device: str = "cpu", weights: Path | None = None) -> None:
        path = weights or default_weights()
        if not path.is_file():
            raise DiarizationError(f"speaker encoder weights not found at {path}")
        try:
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
            state = {k: v for k, v in checkpoint["model_state"].items() if k.startswith(("lstm.", "linear."))}
            model = _VoiceEncoder()
            model.load_state_dict(state)
        except Exception as exc:  # a truncated or foreign file: say which one
            raise DiarizationError(f"cannot load speaker encoder weights from {path}: {exc}") from exc
        self.device = torch.device(device)
        self._model = model.to(self.device).eval()
        self._mel = MelSpectrogram(_MEL)
        self._target_rms = 10 ** (_TARGET_DBFS / 20)
        log.info("speaker encoder loaded from %s on %s", path, self.device)

    def embed(self, windows: Sequence[np.ndarray]) -> np.ndarray:
        """``(len(windows), 256)`` float32 embeddings, rows of unit length.

        Windows of equal length are batched together; each must hold at least
        one sample.  Windows quieter than -30 dBFS are raised to it (silence is
        not amplified).
        """
        out = np.zeros((len(windows), EMBEDDING_SIZE), dtype=np.float32)
        by_length: dict[int, list[int]] = defaultdict(list)
        for i, window in enumerate(windows):
            if len(window) == 0:
                raise ValueError("cannot embed an empty window")
            by_length[len(window)].append(i)
        for indices in by_length.values():
            mels = np.stack([self._mel(self._normalise(windows[i])) for i in indices])
            with torch.inference_mode():
                out[indices] = self._model(torch.from_numpy(mels).to(self.device)).cpu().numpy()
        return out

    def _normalise(self, window: np.ndarray) -> np.ndarray:
        audio = np.asarray(window, dtype=np.float32)
        rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))
        if rms < _SILENCE_RMS or rms >= self._target_rms:
            return audio
        return audio * np.float32(self._target_rms / rms)
