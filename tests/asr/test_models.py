"""Conversion, the model cache and model-file validation, on the real built-in models."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from lumen.asr import convert, ggml, models
from lumen.asr.engine import WhisperEngine
from lumen.errors import ModelError


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private, empty model cache for one test."""
    monkeypatch.setenv("LUMEN_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "models"


# -- conversion ---------------------------------------------------------------
def test_converted_tiny_en_has_whisper_cpp_layout(tiny_model: Path) -> None:
    info = ggml.validate_ggml(tiny_model)
    assert (info.n_vocab, info.n_audio_ctx, info.n_audio_state, info.n_audio_head,
            info.n_audio_layer, info.n_text_ctx, info.n_mels) == (51864, 1500, 384, 6, 4, 448, 80)
    assert not info.multilingual and info.model_type == "tiny" and info.weight_type == "f16"
    assert info.n_tensors == len(ggml.expected_tensors(vars_of(info)))
    assert info.size == tiny_model.stat().st_size


def vars_of(info: ggml.GgmlInfo) -> dict[str, int]:
    return {name: getattr(info, name) for name in ggml.HPARAM_NAMES}


def test_converted_base_is_multilingual(base_model: Path) -> None:
    info = ggml.validate_ggml(base_model)
    assert info.multilingual and info.n_vocab == 51865
    assert (info.model_type, info.n_audio_state, info.n_audio_layer) == ("base", 512, 6)


def test_vocabulary_maps_gpt2_characters_back_to_bytes() -> None:
    src = models.BUILTIN_MODELS["tiny.en"].sources()
    assert src is not None
    vocab = convert.read_vocabulary(src[0] / "tokenizer.json", 51864)
    assert len(vocab) == 50256  # <|endoftext|> and the rest are whisper.cpp's to add
    assert vocab[0] == b"!" and vocab[262] == b" the"  # "Ġthe": Ġ stands for the space byte
    assert all(isinstance(t, bytes) and t for t in vocab)


def test_mel_filters_are_slaney_triangles() -> None:
    filters = convert.mel_filters(80)
    assert filters.shape == (80, 201) and filters.dtype == np.float32
    assert (filters >= 0).all()
    peaks = filters.argmax(axis=1)
    assert (np.diff(peaks) >= 0).all()  # centres rise with the mel index
    # Area normalisation ("slaney"): each triangle is 2/width high, so its area in Hz is 1.
    areas = np.trapezoid(filters, np.linspace(0, 8000, 201), axis=1)
    assert np.allclose(areas[5:], 1.0, rtol=0.1)
    # The first weight of Whisper's mel_80 bank (librosa.filters.mel(sr=16000, n_fft=400, n_mels=80)).
    assert filters[0, 1] == pytest.approx(0.02486259, rel=1e-6)


def test_conversion_of_a_truncated_source_fails_cleanly(tmp_path: Path) -> None:
    src = models.BUILTIN_MODELS["tiny.en"].sources()
    assert src is not None
    part = tmp_path / "model.bin"
    part.write_bytes(src[1][0].read_bytes()[:5_000_000])
    dst = tmp_path / "out.bin"
    with pytest.raises(ModelError, match="ends early"):
        convert.convert_ctranslate2_to_ggml(src[0], dst, model_files=[part])
    assert not dst.exists()


def test_conversion_reports_progress(tmp_path: Path) -> None:
    src = models.BUILTIN_MODELS["tiny.en"].sources()
    assert src is not None
    seen: list[float] = []
    convert.convert_ctranslate2_to_ggml(src[0], tmp_path / "m.bin", seen.append, src[1])
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) > 10


# -- the cache ----------------------------------------------------------------
def test_prepare_converts_once_then_reuses(cache: Path) -> None:
    path = models.prepare_model("tiny.en")
    assert path == cache / "tiny.en.ggml.bin"
    digest, name = (cache / "tiny.en.ggml.bin.sha256").read_text().split()
    assert name == path.name and len(digest) == 64
    stamp = path.stat().st_mtime_ns
    assert models.prepare_model("tiny.en") == path
    assert path.stat().st_mtime_ns == stamp
    assert not [p for p in cache.iterdir() if p.name.startswith(".")]  # no temporaries left


def test_checksum_mismatch_rebuilds(cache: Path) -> None:
    path = models.prepare_model("tiny.en")
    good = path.read_bytes()
    with path.open("r+b") as f:  # corrupt one weight byte: the structure stays valid
        f.seek(len(good) // 2)
        f.write(bytes([good[len(good) // 2] ^ 0xFF]))
    assert [i.prepared for i in models.list_models() if i.name == "tiny.en"] == [False]
    assert models.prepare_model("tiny.en") == path
    assert path.read_bytes() == good


def test_missing_sidecar_rebuilds(cache: Path) -> None:
    path = models.prepare_model("tiny.en")
    (cache / "tiny.en.ggml.bin.sha256").unlink()
    stamp = path.stat().st_mtime_ns
    models.prepare_model("tiny.en")
    assert path.stat().st_mtime_ns != stamp and (cache / "tiny.en.ggml.bin.sha256").exists()


def test_list_models_reports_state(cache: Path) -> None:
    before = {i.name: i for i in models.list_models()}
    assert set(before) == {"tiny.en", "base"}
    assert before["tiny.en"].installed and not before["tiny.en"].prepared
    assert before["tiny.en"].size is None and "first use" in before["tiny.en"].describe()
    assert before["base"].multilingual and not before["tiny.en"].multilingual
    models.prepare_model("tiny.en")
    after = {i.name: i for i in models.list_models()}["tiny.en"]
    assert after.prepared and after.size == after.path.stat().st_size
    assert str(after.path) in after.describe()


def test_uninstalled_model_says_what_to_install(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ghost = models.BuiltinModel("ghost", "not installed", False, ("no_such_package_xyz",),
                                ("model.bin",), "data", "pip install ghost-models")
    monkeypatch.setitem(models.BUILTIN_MODELS, "ghost", ghost)
    assert [i.installed for i in models.list_models() if i.name == "ghost"] == [False]
    with pytest.raises(ModelError, match="pip install ghost-models"):
        models.prepare_model("ghost")


def test_cache_dir_defaults_to_the_user_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LUMEN_CACHE_DIR", raising=False)
    assert models.cache_dir().parts[-2:] == ("lumen", "models")


# -- resolving a model setting ------------------------------------------------
def test_resolve_accepts_a_builtin_name_or_a_ggml_path(cache: Path, tiny_model: Path) -> None:
    assert models.resolve_model("tiny.en") == cache / "tiny.en.ggml.bin"
    assert models.resolve_model(str(tiny_model)) == tiny_model


def test_resolve_missing_path(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="neither a built-in model"):
        models.resolve_model(str(tmp_path / "nope.bin"))
    with pytest.raises(ModelError, match="not a file"):
        models.resolve_model(str(tmp_path))


CORRUPTIONS = ("empty", "random bytes", "random after magic", "gguf", "truncated in header",
               "truncated in filters", "truncated in vocabulary", "truncated in tensors",
               "last byte missing", "trailing junk", "tensor with wrong type", "unknown tensor",
               "absurd hparams", "bad ftype")


def _corruptions(good: bytes) -> dict[str, bytes]:
    """Broken versions of a real model file, by kind (see CORRUPTIONS)."""
    header = 4 + 11 * 4
    filters_end = header + 8 + 80 * 201 * 4
    pos_header = good.index(b"encoder.positional_embedding") - 12 - 2 * 4  # a 2-D tensor
    rng = np.random.default_rng(7)
    wrong_type = bytearray(good)
    wrong_type[pos_header + 8:pos_header + 12] = struct.pack("<i", ggml.F16)  # f32 expected
    renamed = good.replace(b"decoder.ln.bias", b"decoder.ln.bias"[:-4] + b"xxxx", 1)
    bad_hparams = bytearray(good)
    bad_hparams[4 + 4 * 4:4 + 5 * 4] = struct.pack("<i", 1 << 30)  # n_audio_layer
    return {
        "empty": b"",
        "random bytes": rng.bytes(1 << 16),
        "random after magic": good[:4] + rng.bytes(1 << 16),
        "gguf": b"GGUF" + good[4:1000],
        "truncated in header": good[:20],
        "truncated in filters": good[:filters_end - 100],
        "truncated in vocabulary": good[:filters_end + 1000],
        "truncated in tensors": good[:len(good) // 2],
        "last byte missing": good[:-1],
        "trailing junk": good + b"\x01\x02\x03",
        "tensor with wrong type": bytes(wrong_type),
        "unknown tensor": renamed,
        "absurd hparams": bytes(bad_hparams),
        "bad ftype": good[:4 + 10 * 4] + struct.pack("<i", 4) + good[4 + 11 * 4:],
    }


@pytest.fixture(scope="module")
def good_bytes(tiny_model: Path) -> bytes:
    return tiny_model.read_bytes()


@pytest.mark.parametrize("kind", CORRUPTIONS)
def test_bad_model_files_give_model_error(kind: str, good_bytes: bytes, tmp_path: Path) -> None:
    path = tmp_path / f"{kind.replace(' ', '-')}.bin"
    path.write_bytes(_corruptions(good_bytes)[kind])
    with pytest.raises(ModelError, match="not a usable whisper.cpp model") as resolved:
        models.resolve_model(str(path))
    assert str(path) in str(resolved.value)
    with pytest.raises(ModelError):  # the engine checks too: whisper.cpp never sees it
        WhisperEngine(path)


def test_unreadable_path_gives_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="cannot read model file"):
        ggml.validate_ggml(tmp_path)
