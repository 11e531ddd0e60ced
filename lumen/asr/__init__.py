"""Speech recognition: built-in models (:mod:`.models`, :mod:`.convert`, :mod:`.ggml`),
the whisper.cpp engine (:mod:`.engine`) and the live partial/final policy (:mod:`.streaming`)."""
