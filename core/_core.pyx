# cython: language_level=3, boundscheck=False, wraparound=False
"""lumen._core: the native audio core (see docs/core.md).

One .pxi per unit, like uvloop: each declares its C header and wraps it in a
thin extension type.  Arguments are validated by the Python faces in
lumen/audio/ before they get here; long calls release the GIL.
"""

include "ring.pxi"
include "resample.pxi"
include "decode.pxi"
include "mel.pxi"
