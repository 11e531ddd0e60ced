"""Audio front: Python faces of the native core (decoder, resampler, ring) and the VAD."""
