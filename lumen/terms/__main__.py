"""``python -m lumen.terms PATH``: prepare the built-in medical index into PATH (see vocabulary.py)."""

import sys
from pathlib import Path

from lumen.terms.vocabulary import build_builtin, save

save(build_builtin(), Path(sys.argv[1]))
