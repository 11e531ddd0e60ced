"""AudioDecoder: real WAV files in any chunking, every encoding against an
independent reference, the chunk layouts real writers produce, and each
malformed input failing with a message that says what is wrong."""

from __future__ import annotations

import logging
import re
import struct
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audio_support import chunk, decode_in_pieces, fmt_chunk, read_wav, wav_bytes
from lumen.audio.decoder import AudioDecoder, RawFormat
from lumen.errors import AudioFormatError

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop  # the G.711 reference; in the standard library up to Python 3.12

RECORDINGS = ["jfk.wav", "sample.wav", "vosk-digits-8k.wav", "ami-ES2011a-headset-40s-46s.wav"]


def decode(data: bytes, raw: RawFormat = RawFormat()) -> np.ndarray:
    return decode_in_pieces(AudioDecoder(raw), data, [])


@pytest.fixture(scope="module")
def speech(testdata) -> np.ndarray:
    """Two seconds of jfk.wav as s16 integers."""
    samples, _ = read_wav(testdata / "jfk.wav")
    return np.round(samples[16000:48000] * 32768).astype(np.int16)


# ---- real files ----

@pytest.mark.parametrize("name", RECORDINGS)
def test_real_files_in_random_pieces(testdata, name):
    data = (testdata / name).read_bytes()
    expected, rate = read_wav(testdata / name)
    decoder = AudioDecoder()
    whole = decode_in_pieces(decoder, data, [])
    assert decoder.sample_rate == rate and decoder.channels == 1 and decoder.is_wav
    assert decoder.encoding == "pcm_s16le"
    np.testing.assert_array_equal(whole, expected)
    rng = np.random.default_rng(len(data))
    for n_cuts in (1, 3, 50, 2000):
        cuts = sorted(rng.integers(0, len(data), n_cuts))
        np.testing.assert_array_equal(decode_in_pieces(AudioDecoder(), data, cuts), whole)
    # Every split inside the header and just past it.
    for cut in range(0, 80):
        np.testing.assert_array_equal(decode_in_pieces(AudioDecoder(), data, [cut]), whole)


# ---- encodings ----

def encode(samples: np.ndarray, encoding: str) -> bytes:
    """s16 samples in another encoding, computed without the decoder."""
    x = samples.astype(np.int64)
    if encoding == "pcm_u8":
        return ((x >> 8) + 128).astype(np.uint8).tobytes()
    if encoding == "pcm_s16le":
        return x.astype("<i2").tobytes()
    if encoding == "pcm_s24le":
        v = (x << 8) | (x & 0xFF)   # 24 bits, low byte non-zero so it matters
        return np.stack([v & 0xFF, v >> 8 & 0xFF, v >> 16 & 0xFF], axis=1).astype(np.uint8).tobytes()
    if encoding == "pcm_s32le":
        return ((x << 16) | (x & 0xFFFF)).astype("<i4").tobytes()
    if encoding == "pcm_f32le":
        return (x / 32768).astype("<f4").tobytes()
    if encoding == "pcm_f64le":
        return (x / 32768).astype("<f8").tobytes()
    if encoding == "mulaw":
        return audioop.lin2ulaw(x.astype("<i2").tobytes(), 2)
    if encoding == "alaw":
        return audioop.lin2alaw(x.astype("<i2").tobytes(), 2)
    raise AssertionError(encoding)


def reference(data: bytes, encoding: str) -> np.ndarray:
    """What decoding ``data`` must give, from numpy and audioop."""
    if encoding == "pcm_u8":
        return (np.frombuffer(data, np.uint8).astype(np.float32) - 128) / 128
    if encoding == "pcm_s16le":
        return np.frombuffer(data, "<i2").astype(np.float32) / 32768
    if encoding == "pcm_s24le":
        b = np.frombuffer(data, np.uint8).reshape(-1, 3).astype(np.int32)
        v = (b[:, 0] << 8 | b[:, 1] << 16 | b[:, 2] << 24) >> 8
        return (v / 8388608).astype(np.float32)
    if encoding == "pcm_s32le":
        return (np.frombuffer(data, "<i4") / 2147483648).astype(np.float32)
    if encoding == "pcm_f32le":
        return np.frombuffer(data, "<f4").astype(np.float32)
    if encoding == "pcm_f64le":
        return np.frombuffer(data, "<f8").astype(np.float32)
    if encoding == "mulaw":
        return np.frombuffer(audioop.ulaw2lin(data, 2), "<i2").astype(np.float32) / 32768
    if encoding == "alaw":
        return np.frombuffer(audioop.alaw2lin(data, 2), "<i2").astype(np.float32) / 32768
    raise AssertionError(encoding)


WAV_FORMATS = {  # encoding: (format tag, bits)
    "pcm_u8": (1, 8), "pcm_s16le": (1, 16), "pcm_s24le": (1, 24), "pcm_s32le": (1, 32),
    "pcm_f32le": (3, 32), "pcm_f64le": (3, 64), "mulaw": (7, 8), "alaw": (6, 8),
}


@pytest.mark.parametrize("encoding", list(WAV_FORMATS))
def test_every_encoding_as_wav_and_raw(speech, encoding):
    audio = encode(speech, encoding)
    expected = reference(audio, encoding)
    assert np.abs(expected).max() > 0.3   # real speech, not silence
    tag, bits = WAV_FORMATS[encoding]
    decoder = AudioDecoder()
    wav = decode_in_pieces(decoder, wav_bytes(audio, tag, 1, 16000, bits), [7, 30, 45, 1001])
    assert decoder.encoding == encoding
    np.testing.assert_array_equal(wav, expected)
    if encoding in ("pcm_u8", "pcm_f64le"):   # WAV only: not offered as raw formats
        with pytest.raises(AudioFormatError, match=f"unknown raw encoding '{encoding}'"):
            RawFormat(encoding=encoding)
        return
    raw = decode_in_pieces(AudioDecoder(RawFormat(encoding, 16000)), audio, [1, 2, 3, 501])
    np.testing.assert_array_equal(raw, expected)


@pytest.mark.parametrize("encoding", ["pcm_s16le", "pcm_s24le", "pcm_f32le", "mulaw"])
def test_channels_are_averaged(speech, encoding):
    left, right = speech[:4000], speech[4000:8000]
    interleaved = np.stack([left, right], axis=1).reshape(-1)
    tag, bits = WAV_FORMATS[encoding]
    audio = encode(interleaved, encoding)
    expected = reference(audio, encoding).reshape(-1, 2).sum(axis=1) * np.float32(0.5)
    np.testing.assert_allclose(decode(wav_bytes(audio, tag, 2, 48000, bits)), expected, atol=1e-7)
    decoder = AudioDecoder(RawFormat(encoding, 48000, 2))
    np.testing.assert_allclose(decode_in_pieces(decoder, audio, [3]), expected, atol=1e-7)
    assert decoder.sample_rate == 48000 and decoder.channels == 2 and not decoder.is_wav


def test_g711_covers_every_code_like_audioop():
    codes = bytes(range(256))
    np.testing.assert_array_equal(decode(codes, RawFormat("mulaw", 8000)), reference(codes, "mulaw"))
    np.testing.assert_array_equal(decode(codes, RawFormat("alaw", 8000)), reference(codes, "alaw"))


def test_non_finite_and_out_of_range_floats_are_sanitised():
    values = np.array([0.5, np.nan, np.inf, -np.inf, 3.0, -1.5, -0.25], "<f4")
    expected = [0.5, 0.0, 0.0, 0.0, 1.0, -1.0, -0.25]
    np.testing.assert_array_equal(decode(wav_bytes(values.tobytes(), 3, 1, 16000, 32)), expected)
    np.testing.assert_array_equal(decode(values.tobytes(), RawFormat("pcm_f32le")), expected)
    np.testing.assert_array_equal(decode(wav_bytes(values.astype("<f8").tobytes(), 3, 1, 16000, 64)), expected)


# ---- chunk layouts ----

def test_extensible_pcm_and_float(speech):
    audio = encode(speech, "pcm_s24le")
    np.testing.assert_array_equal(decode(wav_bytes(audio, 1, 1, 16000, 24, extensible=True)),
                                  reference(audio, "pcm_s24le"))
    audio = encode(speech, "pcm_f32le")
    decoder = AudioDecoder()
    out = decode_in_pieces(decoder, wav_bytes(audio, 3, 1, 96000, 32, extensible=True), [40, 50])
    assert decoder.encoding == "pcm_f32le" and decoder.sample_rate == 96000
    np.testing.assert_array_equal(out, reference(audio, "pcm_f32le"))


def test_list_and_fact_chunks_before_and_after_data_with_odd_padding(speech):
    audio = encode(speech[:999], "pcm_s16le")
    before = chunk(b"LIST", b"INFOISFT\x05\x00\x00\x00Lavf\x00") + chunk(b"fact", struct.pack("<I", 999))
    after = chunk(b"LIST", b"INFOICMT\x03\x00\x00\x00ok") + chunk(b"id3 ", b"\x01")
    data = wav_bytes(audio, before=chunk(b"JUNK", b"odd") + before, after=after)
    expected = reference(audio, "pcm_s16le")
    np.testing.assert_array_equal(decode(data), expected)
    for cut in range(len(data)):
        if cut % 7 == 0 or cut < 120:
            np.testing.assert_array_equal(decode_in_pieces(AudioDecoder(), data, [cut]), expected)
    # An odd-sized u8 data chunk is followed by its pad byte, then more chunks.
    odd = bytes(range(100, 121))
    data = wav_bytes(odd, 1, 1, 8000, 8, after=chunk(b"LIST", b"INFO"))
    assert len(odd) % 2 == 1
    np.testing.assert_array_equal(decode(data), reference(odd, "pcm_u8"))


def test_odd_chunks_without_their_pad_byte(speech):
    """Some writers leave out the pad byte after an odd-sized chunk (sox and libsndfile
    read their files): a chunk id never starts with the zero pad byte, so a non-zero
    byte there begins the next chunk.  (The whole file was refused before 2026-12-04.)"""
    audio = encode(speech[:999], "pcm_s16le")
    unpadded_list = b"LIST" + struct.pack("<I", 7) + b"INFOabc"  # odd, no pad byte
    data = wav_bytes(audio, before=unpadded_list)
    assert len(data) % 2 == 1
    expected = reference(audio, "pcm_s16le")
    for cut in range(0, 80):
        np.testing.assert_array_equal(decode_in_pieces(AudioDecoder(), data, [cut]), expected)
    odd = bytes(range(100, 121))  # 21 bytes of 8-bit audio, then a chunk with no pad byte between
    data = b"RIFF\x00\x00\x00\x00WAVE" + fmt_chunk(1, 1, 8000, 8) + b"data" + struct.pack("<I", 21) + odd \
        + chunk(b"LIST", b"INFO")
    np.testing.assert_array_equal(decode(data), reference(odd, "pcm_u8"))


@pytest.mark.parametrize("size", [0, 0xFFFFFFFF])
def test_streaming_data_size_means_until_the_end(speech, size):
    audio = encode(speech[:500], "pcm_s16le")
    np.testing.assert_array_equal(decode(wav_bytes(audio, data_size=size)), reference(audio, "pcm_s16le"))


def test_rf64_and_bw64_decode_like_riff(speech):
    """The 64-bit layouts: RIFF and data sizes 0xFFFFFFFF, the real ones in a ds64 chunk (skipped)."""
    audio = encode(speech, "pcm_s16le")
    ds64 = chunk(b"ds64", struct.pack("<QQQI", 0, len(audio), len(audio) // 2, 0))
    body = b"WAVE" + ds64 + fmt_chunk(1, 1, 16000, 16) + chunk(b"data", audio, 0xFFFFFFFF)
    for magic in (b"RF64", b"BW64"):
        data = magic + b"\xff\xff\xff\xff" + body
        decoder = AudioDecoder()
        np.testing.assert_array_equal(decode_in_pieces(decoder, data, [1, 3, 30]), reference(audio, "pcm_s16le"))
        assert decoder.is_wav and decoder.sample_rate == 16000


def test_wav_files_one_after_another_continue_the_stream(speech):
    """A recorder that sends each slice as a whole WAV file: every file's audio, in order."""
    audio = encode(speech, "pcm_s16le")
    parts = [audio[:10000], audio[10000:60002], audio[60002:]]
    files = [wav_bytes(parts[0]), wav_bytes(parts[1], after=chunk(b"LIST", b"INFO")), wav_bytes(parts[2])]
    data = b"".join(files)
    expected = reference(audio, "pcm_s16le")
    np.testing.assert_array_equal(decode(data), expected)
    rng = np.random.default_rng(7)
    for n_cuts in (1, 5, 300):
        np.testing.assert_array_equal(
            decode_in_pieces(AudioDecoder(), data, sorted(rng.integers(0, len(data), n_cuts))), expected)
    # Another channel count or encoding is fine (the output is mono float); another rate is not.
    stereo_u8 = wav_bytes(bytes(range(100, 120)), 1, 2, 16000, 8)
    assert decode(files[0] + stereo_u8).size == len(parts[0]) // 2 + 10
    decoder = AudioDecoder()
    with pytest.raises(AudioFormatError, match="^a WAV header inside the stream declares 8000 Hz; "
                                               "the stream is 16000 Hz$"):
        decode_in_pieces(decoder, files[0] + wav_bytes(parts[1], rate=8000), [])


def test_audio_before_bad_bytes_in_the_same_feed_is_kept(testdata):
    """A whole file in one message with a bad chunk after its audio: the audio comes with the error."""
    data = (testdata / "jfk.wav").read_bytes()
    expected, _ = read_wav(testdata / "jfk.wav")
    for tail, message in [(b"LIST" + struct.pack("<I", 32 << 20), "WAV chunk 'LIST' declares 33554432 bytes; "
                           "non-audio chunks over 16777216 bytes are refused"),
                          (fmt_chunk(1, 1, 16000, 16), "WAV has a second fmt chunk")]:
        with pytest.raises(AudioFormatError, match=f"^{re.escape(message)}$") as error:
            AudioDecoder().feed(data + tail)
        np.testing.assert_array_equal(error.value.decoded, expected)
    # Bad bytes first: nothing decoded.
    with pytest.raises(AudioFormatError) as error:
        AudioDecoder().feed(b"RIFF\x00\x00\x00\x00AVI " + data)
    assert error.value.decoded.size == 0


def test_incomplete_last_frame_is_dropped_with_a_warning(caplog):
    decoder = AudioDecoder(RawFormat("pcm_s24le"))
    assert decoder.feed(b"\x00\x00\x40\x00\x00").tolist() == [0.5]
    with caplog.at_level(logging.WARNING, logger="lumen.audio.decoder"):
        decoder.finish()
    assert "stream ended with 2 bytes of an incomplete frame; dropped" in caplog.text


def test_sample_rate_is_known_once_the_header_is():
    decoder = AudioDecoder()
    data = wav_bytes(b"\x00\x00" * 10, rate=22050)
    assert decoder.feed(data[:30]).size == 0
    assert decoder.sample_rate is None and decoder.is_wav
    assert decoder.feed(data[30:]).size == 10
    assert decoder.sample_rate == 22050


# ---- malformed input ----

def fmt_error(tag=1, channels=1, rate=16000, bits=16, **kw) -> bytes:
    return wav_bytes(b"\x00" * 64, tag, channels, rate, bits, **kw)


def riff(*chunks: bytes) -> bytes:
    return b"RIFF\x00\x00\x00\x00WAVE" + b"".join(chunks)


MALFORMED = [
    (fmt_error(rate=0), "WAV fmt chunk declares 0 Hz sample rate"),
    (fmt_error(rate=4000), "WAV sample rate 4000 Hz is outside 8000-192000 Hz"),
    (fmt_error(channels=40), "WAV declares 40 channels; at most 32 are supported"),
    (fmt_error(tag=0x55), "unsupported WAV format tag 0x0055 (MPEG layer 3); send PCM, float, A-law or mu-law"),
    (fmt_error(bits=20), "WAV format tag 0x0001 with 20 bits per sample is not supported"),
    (riff(fmt_chunk(1, 2, 16000, 16, block_align=2)),
     "WAV block align 2 does not match 2 channels of 16 bits (expected 4)"),
    (riff(b"fmt " + struct.pack("<I", 2**31)), "WAV fmt chunk declares 2147483648 bytes; expected 16 to 1024"),
    (riff(fmt_chunk(1, 1, 16000, 16), b"LIST" + struct.pack("<I", 2**31)),
     "WAV chunk 'LIST' declares 2147483648 bytes; non-audio chunks over 16777216 bytes are refused"),
    (riff(chunk(b"data", b"\x00\x00"), fmt_chunk(1, 1, 16000, 16)), "WAV data chunk comes before the fmt chunk"),
    (riff(fmt_chunk(1, 1, 16000, 16), chunk(b"data", b"\x00\x00"), fmt_chunk(1, 1, 16000, 16)),
     "WAV has a second fmt chunk"),
    (b"RIFF\x24\x00\x00\x00AVI LIST", "stream has a RIFF header that is not RIFF/WAVE (form type 'AVI ')"),
    # Found by tests/fuzz/fuzz_decode.py: non-text bytes in a message broke the bindings.
    (b"RIFF\x24\x00\x00\x00\x80>\x00A", "stream has a RIFF header that is not RIFF/WAVE (form type '?>?A')"),
    (wav_bytes(b"\x00" * 4) + b"RIFF\x24\x00\x00\x00AVI ",
     "stream has a RIFF header that is not RIFF/WAVE (form type 'AVI ')"),
    # Containers that are not WAV are refused by name, not decoded as raw noise.
    (b"fLaC\x00\x00\x00\x22", "stream starts with 'fLaC': FLAC is not supported; send WAV or raw PCM"),
    (b"OggS\x00\x02", "stream starts with 'OggS': Ogg (Opus, Vorbis) is not supported; send WAV or raw PCM"),
    (b"\x1a\x45\xdf\xa3\x9f", "stream starts with '?E??': WebM/Matroska (e.g. a browser's MediaRecorder) "
     "is not supported; send WAV or raw PCM"),
    (b"RIFX\x00\x00\x00\x24WAVE", "stream starts with 'RIFX': big-endian WAV (RIFX) is not supported; "
     "send WAV or raw PCM"),
    (b"FORM\x00\x00\x00\x24AIFF", "stream starts with 'FORM': AIFF is not supported; send WAV or raw PCM"),
    (b"caff\x00\x01", "stream starts with 'caff': Core Audio Format (CAF) is not supported; send WAV or raw PCM"),
    (riff(fmt_chunk(1, 2, 16000, 16), chunk(b"data", b"\x00" * 6)),
     "WAV data chunk size is not a whole number of 4-byte frames"),
    (riff(fmt_chunk(1, 1, 16000, 16, extensible=True)[:-1] + b"\x00"),
     "WAVE_FORMAT_EXTENSIBLE with an unknown sub-format GUID"),
]


@pytest.mark.parametrize("data, message", MALFORMED, ids=[m for _, m in MALFORMED])
def test_malformed_headers_fail_with_the_exact_message(data, message):
    decoder = AudioDecoder()
    with pytest.raises(AudioFormatError) as error:
        decode_in_pieces(decoder, data, [5, 13, 21])
    assert str(error.value) == message
    assert error.value.code == "invalid_audio"
    # Errors are sticky: the stream stays failed with the same message.
    with pytest.raises(AudioFormatError, match=f"^{re.escape(message)}$"):
        decoder.feed(b"\x00" * 8)


@pytest.mark.parametrize("length, message", [
    (7, "stream ended inside the RIFF header (7 of 12 bytes)"),
    (16, "stream ended before the WAV fmt chunk"),
    (20, "stream ended inside the WAV fmt chunk"),
    (30, "stream ended inside the WAV fmt chunk"),
])
def test_truncated_header_fails_at_finish(length, message):
    decoder = AudioDecoder()
    assert decoder.feed(wav_bytes(b"\x00\x00" * 4)[:length]).size == 0
    with pytest.raises(AudioFormatError, match=f"^{re.escape(message)}$"):
        decoder.finish()


@pytest.mark.parametrize("kwargs, message", [
    (dict(encoding="mp3"), "unknown raw encoding 'mp3'"),
    (dict(sample_rate=0), "sample rate 0 Hz is outside 8000-192000 Hz"),
    (dict(sample_rate=384000), "sample rate 384000 Hz is outside 8000-192000 Hz"),
    (dict(channels=40), "40 channels; 1 to 32 are supported"),
])
def test_raw_format_is_validated(kwargs, message):
    with pytest.raises(AudioFormatError, match=message):
        RawFormat(**kwargs)


# ---- chunking never matters ----

@settings(max_examples=150, deadline=None)
@given(encoding=st.sampled_from(list(WAV_FORMATS)), channels=st.integers(1, 4),
       frames=st.integers(1, 300), as_wav=st.booleans(), extra=st.booleans(),
       cuts=st.lists(st.integers(0, 3000), max_size=20), seed=st.integers(0, 2**32 - 1))
def test_chunking_never_changes_the_output(encoding, channels, frames, as_wav, extra, cuts, seed):
    # At least one frame: an empty data chunk means "until the end of the stream".
    tag, bits = WAV_FORMATS[encoding]
    audio = np.random.default_rng(seed).integers(0, 256, frames * channels * bits // 8, np.uint8).tobytes()
    if as_wav or encoding in ("pcm_u8", "pcm_f64le"):
        side = chunk(b"LIST", b"INFOx") if extra else b""
        data, raw = wav_bytes(audio, tag, channels, 44100, bits, before=side, after=side), RawFormat()
    else:
        data, raw = audio, RawFormat(encoding, 44100, channels)
    whole = decode_in_pieces(AudioDecoder(raw), data, [])
    assert whole.size == frames
    assert np.all(np.abs(whole) <= 1)
    split = decode_in_pieces(AudioDecoder(raw), data, sorted(c for c in cuts if c <= len(data)))
    np.testing.assert_array_equal(split, whole)
