"""Fixtures for the diarization tests: one speaker encoder, the two-speaker call and its reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from diarization_support import read_rttm, read_wav

from lumen.diarization import SpeakerEmbedder


@pytest.fixture(scope="session")
def embedder() -> SpeakerEmbedder:
    torch.set_num_threads(1)  # as the Diarizer's workers run it
    return SpeakerEmbedder()


@pytest.fixture(scope="session")
def sample(testdata: Path) -> np.ndarray:
    """sample.wav: 30 s two-person telephone call, 16 kHz."""
    return read_wav(testdata / "sample.wav")


@pytest.fixture(scope="session")
def sample_turns(testdata: Path) -> list[tuple[float, float, str]]:
    """sample.rttm as (start, end, speaker)."""
    return read_rttm(testdata / "sample.rttm")
