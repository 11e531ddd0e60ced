"""Convert a CTranslate2 Whisper model (the faster-whisper format) to whisper.cpp's ggml file.

Only numpy is needed: ``model.bin`` is parsed here (the layout written by
CTranslate2's ``python/ctranslate2/specs/model_spec.py``, binary versions 4-6)::

    uint32 binary version, string spec name, uint32 spec revision
    uint32 n_variables, then per variable:
        string name, uint8 rank, uint32 dims[rank], uint8 dtype, uint32 n_bytes, bytes
    uint32 n_aliases, then (string alias, string target) pairs
    (string = uint16 length including the NUL, bytes, NUL)

What the conversion changes (see :mod:`lumen.asr.ggml` for the target):

* CTranslate2 fuses the self-attention q/k/v projections and the
  cross-attention k/v projections; ggml wants them split.  The key bias
  CTranslate2 stores is dropped: Whisper's key projection has none (the fused
  bias is zero there) and a key bias would not change attention anyway, as it
  adds the same amount to every key's score.
* The decoder output projection is Whisper's token embedding (CTranslate2
  stores it as an alias); whisper.cpp reuses the embedding, so it is skipped.
* Big matrices stay f16; biases, norms, positional embeddings are f32; conv
  weights must be f16 (whisper.cpp rejects f32 convs in an f16 file).
* The vocabulary comes from ``tokenizer.json``: GPT-2 byte-level BPE strings
  mapped back to bytes (the inverse of ``bytes_to_unicode``), special tokens
  left for whisper.cpp to add.
* The mel filter bank (not part of a CTranslate2 model) is computed: Slaney
  mel scale and area normalisation, like ``librosa.filters.mel`` which made
  Whisper's own ``mel_filters.npz``.

``config.json`` holds nothing whisper.cpp needs (it has the decoding defaults,
which whisper.cpp hard-codes), so it is not read.
"""

from __future__ import annotations

import json
import logging
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Iterator, Sequence

import numpy as np

from lumen.asr import ggml
from lumen.errors import ModelError

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
N_FFT = 400

# CTranslate2 DataType enum (include/ctranslate2/types.h); only float types convert.
_CT2_DTYPES = {0: np.dtype("<f4"), 1: np.dtype("i1"), 2: np.dtype("<i2"), 3: np.dtype("<i4"),
               4: np.dtype("<f2"), 5: None}  # 5 = bfloat16, which numpy lacks
_CT2_VERSIONS = range(4, 7)


# -- reading model.bin --------------------------------------------------------
class _Concatenated:
    """Read-only file-like view of several files back to back (a model shipped in parts)."""

    def __init__(self, paths: Sequence[Path]) -> None:
        self._files = [p.open("rb") for p in paths]
        self._sizes = [p.stat().st_size for p in paths]
        self.size = sum(self._sizes)
        self._pos = 0

    def seek(self, pos: int) -> None:
        self._pos = pos

    def tell(self) -> int:
        return self._pos

    def read(self, n: int) -> bytes:
        chunks, start = [], 0
        for f, size in zip(self._files, self._sizes):
            if n > 0 and start <= self._pos < start + size:
                f.seek(self._pos - start)
                chunk = f.read(min(n, start + size - self._pos))
                chunks.append(chunk)
                self._pos += len(chunk)
                n -= len(chunk)
            start += size
        return b"".join(chunks)

    def close(self) -> None:
        for f in self._files:
            f.close()


@dataclass(frozen=True)
class _Variable:
    name: str
    shape: tuple[int, ...]
    dtype_id: int
    offset: int
    nbytes: int
    scalar: float | None  # value of a rank-0 variable (heads count, flags)


class _ModelBin:
    """Index of a CTranslate2 ``model.bin``: variable headers, data read on demand."""

    def __init__(self, paths: Sequence[Path]) -> None:
        self.paths = paths
        self._f = _Concatenated(paths)
        try:
            self.variables = self._index()
        except (struct.error, UnicodeDecodeError, ValueError) as exc:
            self._f.close()
            raise self._fail(f"unreadable ({exc})") from exc
        except BaseException:
            self._f.close()
            raise

    def _fail(self, what: str) -> ModelError:
        names = " + ".join(str(p) for p in self.paths)
        return ModelError(f"{names}: not a CTranslate2 Whisper model: {what}")

    def _unpack(self, fmt: str) -> tuple:
        size = struct.calcsize("<" + fmt)
        data = self._f.read(size)
        if len(data) != size:
            raise self._fail("file ends early (truncated, or a part is missing?)")
        return struct.unpack("<" + fmt, data)

    def _string(self) -> str:
        (n,) = self._unpack("H")
        raw = self._f.read(n)
        if len(raw) != n or not raw.endswith(b"\0"):
            raise self._fail("corrupt string")
        return raw[:-1].decode("utf-8")

    def _index(self) -> dict[str, _Variable]:
        (version,) = self._unpack("I")
        if version not in _CT2_VERSIONS:
            raise self._fail(f"binary version {version} (supported: 4 to 6)")
        spec = self._string()
        if spec != "WhisperSpec":
            raise self._fail(f"model spec is {spec!r}, not WhisperSpec")
        self._unpack("I")  # spec revision: names are checked one by one below
        (count,) = self._unpack("I")
        variables: dict[str, _Variable] = {}
        for _ in range(count):
            name = self._string()
            (rank,) = self._unpack("B")
            shape = self._unpack(f"{rank}I")
            dtype_id, nbytes = self._unpack("BI")
            offset = self._f.tell()
            scalar = None
            if rank == 0 and _CT2_DTYPES.get(dtype_id) is not None:
                scalar = float(np.frombuffer(self._f.read(nbytes), _CT2_DTYPES[dtype_id])[0])
            if offset + nbytes > self._f.size:
                raise self._fail("file ends early (truncated, or a part is missing?)")
            self._f.seek(offset + nbytes)
            variables[name] = _Variable(name, tuple(shape), dtype_id, offset, nbytes, scalar)
        (n_aliases,) = self._unpack("I")
        for _ in range(n_aliases):
            alias, target = self._string(), self._string()
            if target not in variables:
                raise self._fail(f"alias {alias!r} points to missing {target!r}")
            variables[alias] = variables[target]
        return variables

    def get(self, name: str) -> _Variable:
        try:
            return self.variables[name]
        except KeyError:
            raise self._fail(f"variable {name!r} missing") from None

    def array(self, var: _Variable) -> np.ndarray:
        dtype = _CT2_DTYPES.get(var.dtype_id)
        if dtype is None or dtype.kind != "f":
            raise self._fail(f"{var.name} is stored as CTranslate2 type {var.dtype_id}; only "
                             "float16/float32 models convert (re-export without quantization)")
        self._f.seek(var.offset)
        data = np.frombuffer(self._f.read(var.nbytes), dtype)
        if data.size != int(np.prod(var.shape)):
            raise self._fail(f"{var.name} has {data.size} values for shape {var.shape}")
        return data.reshape(var.shape)

    def close(self) -> None:
        self._f.close()


# -- the name mapping ---------------------------------------------------------
_LAYER = re.compile(r"(encoder|decoder)/layer_(\d+)/(\w+)/(\w+)/(weight|bias|gamma|beta)")
_TOP = re.compile(r"(encoder|decoder)/(\w+)/(weight|bias|gamma|beta|encodings)")
_SUFFIX = {"weight": "weight", "bias": "bias", "gamma": "weight", "beta": "bias"}
# (module, sub-module) inside a layer -> ggml names of the fused pieces, in order
_LAYER_PARTS = {
    ("self_attention", "layer_norm"): ("attn_ln",),
    ("self_attention", "linear_0"): ("attn.query", "attn.key", "attn.value"),
    ("self_attention", "linear_1"): ("attn.out",),
    ("attention", "layer_norm"): ("cross_attn_ln",),
    ("attention", "linear_0"): ("cross_attn.query",),
    ("attention", "linear_1"): ("cross_attn.key", "cross_attn.value"),
    ("attention", "linear_2"): ("cross_attn.out",),
    ("ffn", "layer_norm"): ("mlp_ln",),
    ("ffn", "linear_0"): ("mlp.0",),
    ("ffn", "linear_1"): ("mlp.2",),
}
_TOP_NAMES = {
    ("encoder", "conv1"): "encoder.conv1", ("encoder", "conv2"): "encoder.conv2",
    ("encoder", "position_encodings"): "encoder.positional_embedding",
    ("encoder", "layer_norm"): "encoder.ln_post",
    ("decoder", "embeddings"): "decoder.token_embedding",
    ("decoder", "position_encodings"): "decoder.positional_embedding",
    ("decoder", "layer_norm"): "decoder.ln",
}


def _ggml_pieces(ct2_name: str) -> list[str] | None:
    """ggml names of the pieces a CTranslate2 variable splits into (None: not a weight)."""
    m = _LAYER.fullmatch(ct2_name)
    if m:
        side, layer, module, sub, suffix = m.groups()
        parts = _LAYER_PARTS.get((module, sub))
        if parts is None:
            return None
        return [f"{side}.blocks.{layer}.{p}.{_SUFFIX[suffix]}" for p in parts]
    m = _TOP.fullmatch(ct2_name)
    if m and (m[1], m[2]) in _TOP_NAMES:
        base = _TOP_NAMES[m[1], m[2]]
        return [base if m[3] == "encodings" else f"{base}.{_SUFFIX[m[3]]}"]
    return None


def _hparams(model: _ModelBin) -> dict[str, int]:
    def count(side: str) -> int:
        return len({m[1] for n in model.variables if (m := re.match(rf"{side}/layer_(\d+)/", n))})

    def heads(side: str) -> int:
        value = model.get(f"{side}/num_heads").scalar
        if value is None:
            raise model._fail(f"{side}/num_heads is not a number")
        return int(value)

    enc_pos = model.get("encoder/position_encodings/encodings").shape
    dec_pos = model.get("decoder/position_encodings/encodings").shape
    return {
        "n_vocab": model.get("decoder/embeddings/weight").shape[0],
        "n_audio_ctx": enc_pos[0], "n_audio_state": enc_pos[1],
        "n_audio_head": heads("encoder"), "n_audio_layer": count("encoder"),
        "n_text_ctx": dec_pos[0], "n_text_state": dec_pos[1],
        "n_text_head": heads("decoder"), "n_text_layer": count("decoder"),
        "n_mels": model.get("encoder/conv1/weight").shape[1],
        "ftype": ggml.F16,
    }


# -- vocabulary and mel filters -----------------------------------------------
def _byte_decoder() -> dict[str, int]:
    """Inverse of GPT-2's ``bytes_to_unicode``: printable stand-in character -> byte."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
                 *range(ord("®"), ord("ÿ") + 1)]
    others = [b for b in range(256) if b not in printable]
    table = {chr(b): b for b in printable}
    table.update({chr(256 + i): b for i, b in enumerate(others)})
    return table


def read_vocabulary(tokenizer_json: Path, n_vocab: int) -> list[bytes]:
    """The BPE tokens of a Whisper ``tokenizer.json`` as bytes, ids 0 … <|endoftext|>-1."""
    try:
        data = json.loads(tokenizer_json.read_text(encoding="utf-8"))
        vocab: dict[str, int] = data["model"]["vocab"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"{tokenizer_json}: not a Hugging Face tokenizer file ({exc})") from exc
    eot = vocab.get("<|endoftext|>")
    # whisper.cpp puts <|endoftext|> at 50257 in multilingual models, 50256 otherwise.
    expected_eot = 50257 if n_vocab >= 51865 else 50256
    if eot != expected_eot:
        raise ModelError(f"{tokenizer_json}: <|endoftext|> has id {eot}, expected {expected_eot} "
                         f"for a {n_vocab}-token Whisper model")
    by_id = {i: token for token, i in vocab.items() if i < eot}
    if sorted(by_id) != list(range(eot)):
        raise ModelError(f"{tokenizer_json}: token ids below {eot} are not contiguous")
    decoder = _byte_decoder()
    try:
        return [bytes(decoder[c] for c in by_id[i]) for i in range(eot)]
    except KeyError as exc:
        raise ModelError(f"{tokenizer_json}: not a byte-level BPE vocabulary "
                         f"(character {exc} has no byte)") from None


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale: linear below 1 kHz, logarithmic above."""
    f_sp, min_log_hz, logstep = 200.0 / 3, 1000.0, np.log(6.4) / 27.0
    hz = np.asarray(hz, dtype=np.float64)
    return np.where(hz >= min_log_hz, min_log_hz / f_sp + np.log(np.maximum(hz, 1e-10) / min_log_hz)
                    / logstep, hz / f_sp)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    f_sp, min_log_hz, logstep = 200.0 / 3, 1000.0, np.log(6.4) / 27.0
    min_log_mel = min_log_hz / f_sp
    return np.where(mel >= min_log_mel, min_log_hz * np.exp(logstep * (mel - min_log_mel)),
                    f_sp * mel)


def mel_filters(n_mels: int, sample_rate: int = SAMPLE_RATE, n_fft: int = N_FFT) -> np.ndarray:
    """Triangular Slaney-style mel filter bank, area-normalised: ``(n_mels, 1 + n_fft // 2)``.

    The same numbers as ``librosa.filters.mel(sr=sample_rate, n_fft=n_fft,
    n_mels=n_mels)`` (its defaults: htk=False, norm="slaney", fmax=sr/2),
    from which Whisper's ``mel_filters.npz`` was made.
    """
    fft_freqs = np.linspace(0, sample_rate / 2, 1 + n_fft // 2)
    mel_f = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(sample_rate / 2), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2:] - mel_f[:-2]))[:, None]
    return weights.astype(np.float32)


# -- writing ------------------------------------------------------------------
def _write_tensor(out: BinaryIO, name: str, data: np.ndarray,
                  layout: dict[str, tuple[tuple[int, int, int], int]]) -> None:
    ne, ggml_type = layout[name]
    dims = list(ne)
    while len(dims) > 1 and dims[-1] == 1:
        dims.pop()
    if data.size != int(np.prod(dims)):
        raise ModelError(f"{name}: {data.shape} does not fit whisper.cpp's shape {ne}")
    raw = data.astype("<f4" if ggml_type == ggml.F32 else "<f2", copy=False)
    encoded = name.encode("ascii")
    out.write(struct.pack(f"<3i{len(dims)}i", len(dims), len(encoded), ggml_type, *dims))
    out.write(encoded)
    out.write(np.ascontiguousarray(raw).tobytes())


def _pieces(model: _ModelBin, var: _Variable, names: list[str]) -> Iterator[tuple[str, np.ndarray]]:
    data = model.array(var)
    if len(names) == 1:
        yield names[0], data
        return
    if data.shape[0] % len(names):
        raise model._fail(f"{var.name} of shape {var.shape} cannot split in {len(names)}")
    for name, piece in zip(names, np.split(data, len(names), axis=0)):
        if name.endswith(".key.bias"):
            continue  # see the module docstring
        yield name, piece


def convert_ctranslate2_to_ggml(src_dir: Path, dst: Path,
                                progress: Callable[[float], None] | None = None,
                                model_files: Sequence[Path] | None = None) -> None:
    """Write the whisper.cpp model file ``dst`` from the CTranslate2 model in ``src_dir``.

    ``src_dir`` holds ``tokenizer.json`` and, unless ``model_files`` lists the
    pieces of a split ``model.bin`` in order, ``model.bin``.  Tensors are
    converted and written one at a time.  ``progress`` is called with the
    fraction done (0 … 1).  On failure no ``dst`` is left behind; the finished
    file is checked with :func:`lumen.asr.ggml.validate_ggml`.
    """
    src_dir, dst = Path(src_dir), Path(dst)
    paths = list(model_files) if model_files else [src_dir / "model.bin"]
    for p in [*paths, src_dir / "tokenizer.json"]:
        if not p.is_file():
            raise ModelError(f"CTranslate2 model file {p} not found")
    model = _ModelBin(paths)
    try:
        hp = _hparams(model)
        _check_projection(model)
        vocab = read_vocabulary(src_dir / "tokenizer.json", hp["n_vocab"])
        layout = ggml.expected_tensors(hp)
        # In file order, so reads are sequential; an alias is read again under its own name.
        weights = sorted(((v, names) for name, v in model.variables.items()
                          if (names := _ggml_pieces(name)) is not None), key=lambda w: w[0].offset)
        total = sum(v.nbytes for v, _ in weights) or 1
        done = 0
        with dst.open("wb") as out:
            out.write(struct.pack("<I11i", ggml.MAGIC, *(hp[k] for k in ggml.HPARAM_NAMES)))
            filters = mel_filters(hp["n_mels"])
            out.write(struct.pack("<2i", *filters.shape))
            out.write(filters.tobytes())
            out.write(struct.pack("<i", len(vocab)))
            for token in vocab:
                out.write(struct.pack("<I", len(token)))
                out.write(token)
            for var, names in weights:
                for name, data in _pieces(model, var, names):
                    if name not in layout:
                        raise model._fail(f"{var.name} maps to {name}, which whisper.cpp lacks")
                    _write_tensor(out, name, data, layout)
                done += var.nbytes
                if progress:
                    progress(done / total)
        info = ggml.validate_ggml(dst)
        log.info("converted %s to %s (%s, %d tensors, %.1f MB)", src_dir, dst, info.model_type,
                 info.n_tensors, info.size / 1e6)
    except BaseException:
        dst.unlink(missing_ok=True)
        raise
    finally:
        model.close()


def _check_projection(model: _ModelBin) -> None:
    """The output projection must be the token embedding (whisper.cpp has no separate one)."""
    projection = model.variables.get("decoder/projection/weight")
    if projection is not None and projection.offset != model.get("decoder/embeddings/weight").offset:
        raise model._fail("the decoder output projection is not tied to the token embedding")
