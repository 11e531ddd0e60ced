"""whisper.cpp's ggml model file: its layout, and a structural check of a file.

whisper.cpp aborts the whole process (``GGML_ASSERT``, ``std::bad_alloc``) on
some malformed files instead of failing cleanly, so every file is checked here,
in Python, before it reaches ``whisper_init``: the check mirrors the loader
(``whisper_model_load`` in whisper.cpp 1.8) step by step.

Layout (all integers little-endian int32 unless said otherwise)::

    magic 0x67676d6c ("ggml")
    hparams: n_vocab n_audio_ctx n_audio_state n_audio_head n_audio_layer
             n_text_ctx n_text_state n_text_head n_text_layer n_mels ftype
    mel filters: n_mel n_fft, then n_mel*n_fft float32
    vocab: n, then n times (uint32 length, bytes)
    tensors until EOF: n_dims, name length, ggml type, ne[0..n_dims-1]
                       (innermost first), name, data

``ftype`` is the type of the big matrices (1 = f16); 1-D tensors, conv biases
and positional embeddings are always f32, conv weights f16 unless the whole
model is f32.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

from lumen.errors import ModelError

MAGIC = 0x67676D6C
HPARAM_NAMES = ("n_vocab", "n_audio_ctx", "n_audio_state", "n_audio_head", "n_audio_layer",
                "n_text_ctx", "n_text_state", "n_text_head", "n_text_layer", "n_mels", "ftype")
N_FFT_BINS = 201                      # 1 + 400 // 2: whisper's STFT size
VOCAB_SIZES = (51864, 51865, 51866)   # English-only, multilingual, large-v3 (128 mels)
QNT_VERSION_FACTOR = 1000             # ftype carries the quantization version * 1000

F32, F16 = 0, 1
# ggml type id -> (name, block size, bytes per block), for the types whisper.cpp loads.
TYPES: dict[int, tuple[str, int, int]] = {
    0: ("f32", 1, 4), 1: ("f16", 1, 2), 2: ("q4_0", 32, 18), 3: ("q4_1", 32, 20),
    6: ("q5_0", 32, 22), 7: ("q5_1", 32, 24), 8: ("q8_0", 32, 34), 10: ("q2_k", 256, 84),
    11: ("q3_k", 256, 110), 12: ("q4_k", 256, 144), 13: ("q5_k", 256, 176),
    14: ("q6_k", 256, 210), 30: ("bf16", 1, 2),
}
# ggml file type (hparams.ftype) -> type of the big matrices.
FTYPE_TO_TYPE = {0: 0, 1: 1, 2: 2, 3: 3, 7: 8, 8: 6, 9: 7, 10: 10, 11: 11, 12: 12, 13: 13,
                 14: 14, 24: 30}
MODEL_TYPES = {4: "tiny", 6: "base", 12: "small", 24: "medium", 32: "large"}

_MAX_NAME = 256
_MAX_TOKEN_BYTES = 1024


@dataclass(frozen=True)
class GgmlInfo:
    """What a valid whisper.cpp model file declares."""

    path: Path
    size: int
    n_vocab: int
    n_audio_ctx: int
    n_audio_state: int
    n_audio_head: int
    n_audio_layer: int
    n_text_ctx: int
    n_text_state: int
    n_text_head: int
    n_text_layer: int
    n_mels: int
    ftype: int
    n_tensors: int

    @property
    def multilingual(self) -> bool:
        return self.n_vocab >= 51865

    @property
    def model_type(self) -> str:
        """whisper.cpp's name for the size class (``tiny``, ``base``, …)."""
        return MODEL_TYPES.get(self.n_audio_layer, f"{self.n_audio_layer}-layer")

    @property
    def weight_type(self) -> str:
        return TYPES[FTYPE_TO_TYPE[self.ftype % QNT_VERSION_FACTOR]][0]


def tensor_nbytes(ggml_type: int, ne: tuple[int, ...]) -> int:
    _, block, size = TYPES[ggml_type]
    rows = 1
    for n in ne[1:]:
        rows *= n
    return ne[0] // block * size * rows


def expected_tensors(hp: dict[str, int]) -> dict[str, tuple[tuple[int, int, int], int]]:
    """Every tensor whisper.cpp loads: name -> (ne[0..2], ggml type)."""
    wtype = FTYPE_TO_TYPE[hp["ftype"] % QNT_VERSION_FACTOR]
    vtype = F32 if wtype == F32 else F16  # conv weights
    a, t = hp["n_audio_state"], hp["n_text_state"]
    out: dict[str, tuple[tuple[int, int, int], int]] = {
        "encoder.positional_embedding": ((a, hp["n_audio_ctx"], 1), F32),
        "encoder.conv1.weight": ((3, hp["n_mels"], a), vtype),
        "encoder.conv1.bias": ((1, a, 1), F32),
        "encoder.conv2.weight": ((3, a, a), vtype),
        "encoder.conv2.bias": ((1, a, 1), F32),
        "encoder.ln_post.weight": ((a, 1, 1), F32),
        "encoder.ln_post.bias": ((a, 1, 1), F32),
        "decoder.positional_embedding": ((t, hp["n_text_ctx"], 1), F32),
        "decoder.token_embedding.weight": ((t, hp["n_vocab"], 1), wtype),
        "decoder.ln.weight": ((t, 1, 1), F32),
        "decoder.ln.bias": ((t, 1, 1), F32),
    }

    def block(prefix: str, n: int, cross: bool) -> None:
        parts = ["attn"] + (["cross_attn"] if cross else [])
        out[f"{prefix}.mlp_ln.weight"] = ((n, 1, 1), F32)
        out[f"{prefix}.mlp_ln.bias"] = ((n, 1, 1), F32)
        out[f"{prefix}.mlp.0.weight"] = ((n, 4 * n, 1), wtype)
        out[f"{prefix}.mlp.0.bias"] = ((4 * n, 1, 1), F32)
        out[f"{prefix}.mlp.2.weight"] = ((4 * n, n, 1), wtype)
        out[f"{prefix}.mlp.2.bias"] = ((n, 1, 1), F32)
        for part in parts:
            out[f"{prefix}.{part}_ln.weight"] = ((n, 1, 1), F32)
            out[f"{prefix}.{part}_ln.bias"] = ((n, 1, 1), F32)
            for proj in ("query", "key", "value", "out"):
                out[f"{prefix}.{part}.{proj}.weight"] = ((n, n, 1), wtype)
                if proj != "key":  # Whisper's key projections have no bias
                    out[f"{prefix}.{part}.{proj}.bias"] = ((n, 1, 1), F32)

    for i in range(hp["n_audio_layer"]):
        block(f"encoder.blocks.{i}", a, cross=False)
    for i in range(hp["n_text_layer"]):
        block(f"decoder.blocks.{i}", t, cross=True)
    return out


class _Reader:
    """Reads a file sequentially, turning every short read into a :class:`ModelError`."""

    def __init__(self, f: BinaryIO, path: Path, size: int) -> None:
        self.f, self.path, self.size = f, path, size

    def fail(self, what: str) -> ModelError:
        return ModelError(f"{self.path}: not a usable whisper.cpp model: {what}")

    def ints(self, n: int, what: str) -> tuple[int, ...]:
        data = self.f.read(4 * n)
        if len(data) != 4 * n:
            raise self.fail(f"file ends inside the {what} (truncated?)")
        return struct.unpack(f"<{n}i", data)

    def skip(self, n: int, what: str) -> None:
        if self.f.tell() + n > self.size:
            raise self.fail(f"file ends inside the {what} (truncated?)")
        self.f.seek(n, os.SEEK_CUR)


def _check_hparams(r: _Reader, hp: dict[str, int]) -> None:
    if hp["n_vocab"] not in VOCAB_SIZES:
        raise r.fail(f"n_vocab {hp['n_vocab']} is not a Whisper vocabulary size {VOCAB_SIZES}")
    if hp["ftype"] < 0 or hp["ftype"] % QNT_VERSION_FACTOR not in FTYPE_TO_TYPE:
        raise r.fail(f"unsupported weight type (ftype {hp['ftype']})")
    if hp["n_mels"] not in (80, 128):
        raise r.fail(f"n_mels {hp['n_mels']} (Whisper uses 80 or 128)")
    if hp["n_audio_state"] != hp["n_text_state"]:
        raise r.fail("encoder and decoder widths differ")
    for side, ctx_max in (("audio", 1500), ("text", 448)):
        state, head = hp[f"n_{side}_state"], hp[f"n_{side}_head"]
        if not (0 < hp[f"n_{side}_ctx"] <= ctx_max and 0 < state <= 8192 and 0 < head <= 128
                and state % head == 0 and 0 < hp[f"n_{side}_layer"] <= 64):
            raise r.fail(f"implausible {side} hyper-parameters "
                         + ", ".join(f"{k}={v}" for k, v in hp.items() if side in k))


def _tensor_headers(r: _Reader) -> Iterator[tuple[str, tuple[int, ...], int]]:
    """Yields (name, ne, ggml type) of each tensor, leaving the file at its data."""
    while True:
        head = r.f.read(12)
        if not head:
            return
        if len(head) != 12:
            raise r.fail("file ends inside a tensor header (truncated?)")
        n_dims, name_len, ttype = struct.unpack("<3i", head)
        if not 1 <= n_dims <= 3 or not 0 < name_len <= _MAX_NAME or ttype not in TYPES:
            raise r.fail(f"corrupt tensor header at byte {r.f.tell() - 12}")
        ne = r.ints(n_dims, "a tensor header")
        raw = r.f.read(name_len)
        if len(raw) != name_len:
            raise r.fail("file ends inside a tensor name (truncated?)")
        try:
            name = raw.decode("ascii")
        except UnicodeDecodeError:
            raise r.fail(f"corrupt tensor name at byte {r.f.tell() - name_len}") from None
        yield name, tuple(ne) + (1,) * (3 - n_dims), ttype


def validate_ggml(path: Path | str) -> GgmlInfo:
    """Check that ``path`` is a whisper.cpp model this build can load, without loading it.

    Reads the header, mel filters and vocabulary, then every tensor header
    (seeking over the data): each tensor must be one whisper.cpp expects, with
    the expected shape and byte size, all must be present, and the sizes must
    add up to the file length exactly.  Raises :class:`ModelError` saying what
    is wrong.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        f = path.open("rb")
    except OSError as exc:
        raise ModelError(f"cannot read model file {path}: {exc.strerror or exc}") from exc
    with f:
        r = _Reader(f, path, size)
        magic = f.read(4)
        if magic == b"GGUF":
            raise r.fail("GGUF files are not whisper.cpp models (use a ggml-*.bin file)")
        if len(magic) < 4 or struct.unpack("<I", magic)[0] != MAGIC:
            raise r.fail("bad magic (expected a ggml-*.bin whisper.cpp model)")
        hp = dict(zip(HPARAM_NAMES, r.ints(len(HPARAM_NAMES), "header")))
        _check_hparams(r, hp)

        n_mel, n_fft = r.ints(2, "mel filters")
        if (n_mel, n_fft) != (hp["n_mels"], N_FFT_BINS):
            raise r.fail(f"mel filter bank is {n_mel}x{n_fft}, expected {hp['n_mels']}x{N_FFT_BINS}")
        r.skip(4 * n_mel * n_fft, "mel filters")

        (n_tokens,) = r.ints(1, "vocabulary")
        if not 0 < n_tokens <= hp["n_vocab"]:
            raise r.fail(f"vocabulary has {n_tokens} tokens for n_vocab {hp['n_vocab']}")
        for _ in range(n_tokens):
            (length,) = r.ints(1, "vocabulary")
            if not 0 <= length <= _MAX_TOKEN_BYTES:
                raise r.fail(f"corrupt vocabulary entry at byte {f.tell() - 4}")
            r.skip(length, "vocabulary")

        expected = expected_tensors(hp)
        seen: set[str] = set()
        for name, ne, ttype in _tensor_headers(r):
            if name not in expected:
                raise r.fail(f"unknown tensor {name!r}")
            if name in seen:
                raise r.fail(f"tensor {name!r} appears twice")
            shape, want_type = expected[name]
            if ne != shape:
                raise r.fail(f"tensor {name!r} has shape {list(ne)}, expected {list(shape)}")
            block = TYPES[want_type][1]
            if ne[0] % block:
                raise r.fail(f"tensor {name!r} width {ne[0]} is not a multiple of the "
                             f"{TYPES[want_type][0]} block size {block}")
            nbytes = tensor_nbytes(want_type, ne)
            if (ne[0] * ne[1] * ne[2] * TYPES[ttype][2]) // block != nbytes:
                raise r.fail(f"tensor {name!r} is {TYPES[ttype][0]}, expected {TYPES[want_type][0]}")
            r.skip(nbytes, f"data of tensor {name!r}")
            seen.add(name)
        missing = expected.keys() - seen
        if missing:
            raise r.fail(f"{len(missing)} tensors missing, e.g. {sorted(missing)[0]!r} (truncated?)")
    return GgmlInfo(path=path, size=size, n_tensors=len(seen), **hp)
