"""`pip wheel .` builds a wheel that installs and works in a fresh virtual environment."""

from __future__ import annotations

import subprocess
import sys
import venv
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHECK = """
import numpy as np
from lumen.audio.decoder import AudioDecoder
from lumen.audio.resampler import resample
import lumen, pathlib
wav = pathlib.Path(r"{wav}").read_bytes()
audio = AudioDecoder().feed(wav)
assert audio.size == 176000, audio.size
out = resample(np.sin(np.arange(48000) / 7).astype(np.float32), 48000, 16000)
assert out.size == 16000
assert (pathlib.Path(lumen.__file__).parent / "_core.pyi").exists()
assert (pathlib.Path(lumen.__file__).parent / "web" / "index.html").exists()
print("wheel ok")
"""


def test_wheel_installs_and_works_in_a_fresh_venv(tmp_path, testdata):
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(ROOT)],
                   check=True)
    (wheel,) = wheels.glob("lumen-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.startswith("lumen/_core") and n.endswith(".so") for n in names)
    assert "lumen/py.typed" in names
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    # torch first, as scripts/setup_env.sh does (the CPU build); then the wheel with its dependencies.
    subprocess.run([str(python), "-m", "pip", "install", "-q", "torch==2.13.0"], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", str(wheel)], check=True)
    result = subprocess.run([str(python), "-c", CHECK.format(wav=testdata / "jfk.wav")],
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "wheel ok" in result.stdout
    version = subprocess.run([str(env_dir / "bin" / "lumen"), "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and "lumen 0.1.0" in version.stdout, version.stderr
    listing = subprocess.run([str(env_dir / "bin" / "lumen"), "models", "list"], capture_output=True, text=True)
    assert listing.returncode == 0 and "tiny.en" in listing.stdout, listing.stderr
