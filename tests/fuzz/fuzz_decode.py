"""atheris harness for the Python-facing decode path: bytes → samples → 16 kHz → VAD.

This is the path every binary WebSocket frame takes in a session
(:class:`lumen.audio.decoder.AudioDecoder` over the native core, then
:class:`~lumen.audio.resampler.StreamResampler` and
:class:`~lumen.audio.vad.VadSegmenter`), with the raw format a client can
declare in the query.  Input layout (so real WAV files make good seeds)::

    byte 0      raw encoding (index into RAW_ENCODINGS, modulo)
    bytes 1-3   raw sample rate, little-endian (any value: out-of-range ones must be refused)
    byte 4      raw channel count (0-255: out-of-range ones must be refused)
    byte 5      chunking seed (how the stream is cut into frames)
    bytes 6-    the stream (WAV when it starts with RIFF, raw PCM otherwise)

The only acceptable failure is :class:`~lumen.errors.AudioFormatError`;
anything else, or output that is not finite audio in [-1, 1], is a finding.
Run through ``scripts/fuzz.sh fuzz_decode_py [SECONDS]``.
"""

from __future__ import annotations

import random
import sys

import atheris

with atheris.instrument_imports(include=["lumen"]):
    import numpy as np

    from lumen.audio.decoder import RAW_ENCODINGS, AudioDecoder, RawFormat
    from lumen.audio.resampler import StreamResampler
    from lumen.audio.vad import VadSegmenter, SpeechEnd, SpeechStart
    from lumen.errors import AudioFormatError

HEADER = 6


def check(samples: np.ndarray, full_scale: bool = True) -> None:
    """Finite float32 mono; decoded audio is also within full scale (resampling may overshoot it)."""
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert np.isfinite(samples).all()
    if full_scale:
        assert np.abs(samples).max(initial=0.0) <= 1.0


def decode(data: bytes) -> None:
    if len(data) < HEADER:
        return
    rate = int.from_bytes(data[1:4], "little")
    try:
        raw = RawFormat(RAW_ENCODINGS[data[0] % len(RAW_ENCODINGS)], rate, data[4])
    except AudioFormatError:
        return
    cuts = random.Random(data[5])
    stream = data[HEADER:]
    decoder = AudioDecoder(raw)
    vad = VadSegmenter()
    received = 0
    try:
        position = 0
        parts = []
        while position < len(stream):
            size = cuts.choice((1, 2, 3, 7, 64, 441, 4096))
            parts.append(decoder.feed(stream[position:position + size]))
            position += size
        parts.append(decoder.finish())
    except AudioFormatError:
        return
    for part in parts:
        check(part)
    if decoder.sample_rate is None:
        return  # no audio at all
    resampler = StreamResampler(decoder.sample_rate, 16000)
    audio = [resampler.process(part) for part in parts] + [resampler.flush()]
    events = []
    for chunk in audio:
        check(chunk, full_scale=False)
        received += chunk.size
        events += vad.feed(chunk)
    events += vad.flush()
    total = sum(p.size for p in parts)
    expected = -(-total * 16000 // decoder.sample_rate)  # ceil: the resampler's documented total
    assert received == expected, (received, expected)
    samples = [e.sample for e in events]
    assert samples == sorted(samples) and all(0 <= s <= received for s in samples), samples
    starts = sum(isinstance(e, SpeechStart) for e in events)
    assert starts == sum(isinstance(e, SpeechEnd) for e in events), "every start has its end"


def main() -> None:
    atheris.Setup(sys.argv, decode)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
