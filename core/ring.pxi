# Ring buffer of float32 samples (core/ring.c).

from libc.stdint cimport uint64_t

cdef extern from "ring.h":
    ctypedef struct lumen_ring:
        size_t capacity
    int LUMEN_RING_ERROR
    int LUMEN_RING_DROP_OLDEST
    int LUMEN_RING_OK
    int LUMEN_RING_EOVERFLOW
    int LUMEN_RING_ENOMEM
    int lumen_ring_init(lumen_ring *ring, size_t capacity, int policy)
    void lumen_ring_free(lumen_ring *ring)
    size_t lumen_ring_available(lumen_ring *ring) nogil
    int lumen_ring_write(lumen_ring *ring, const float *samples, size_t n) nogil
    size_t lumen_ring_peek(lumen_ring *ring, float *out, size_t n) nogil
    size_t lumen_ring_advance(lumen_ring *ring, size_t n) nogil
    uint64_t lumen_ring_written_count(lumen_ring *ring) nogil
    uint64_t lumen_ring_consumed_count(lumen_ring *ring) nogil
    uint64_t lumen_ring_dropped_count(lumen_ring *ring) nogil

import numpy as _ring_np


cdef class Ring:
    """Float32 ring: ``Ring(capacity, drop_oldest)``.  See lumen.audio.ring."""

    cdef lumen_ring _ring
    cdef bint _ready

    def __cinit__(self, size_t capacity, bint drop_oldest):
        rc = lumen_ring_init(&self._ring, capacity,
                             LUMEN_RING_DROP_OLDEST if drop_oldest else LUMEN_RING_ERROR)
        if rc == LUMEN_RING_ENOMEM:
            raise MemoryError(f"ring of {capacity} samples")
        if rc != LUMEN_RING_OK:
            raise ValueError(f"invalid ring capacity {capacity}")
        self._ready = True

    def __dealloc__(self):
        if self._ready:
            lumen_ring_free(&self._ring)

    @property
    def capacity(self):
        return self._ring.capacity

    @property
    def available(self):
        return lumen_ring_available(&self._ring)

    @property
    def written(self):
        return lumen_ring_written_count(&self._ring)

    @property
    def consumed(self):
        return lumen_ring_consumed_count(&self._ring)

    @property
    def dropped(self):
        return lumen_ring_dropped_count(&self._ring)

    def write(self, const float[::1] samples not None):
        """Append; returns False (nothing written) when it does not fit under the error policy."""
        cdef size_t n = samples.shape[0]
        cdef int rc
        if n == 0:
            return True
        with nogil:
            rc = lumen_ring_write(&self._ring, &samples[0], n)
        return rc == LUMEN_RING_OK

    def peek(self, size_t n):
        """Up to ``n`` of the oldest samples, not consumed."""
        cdef size_t count = min(n, lumen_ring_available(&self._ring))
        out = _ring_np.empty(count, dtype=_ring_np.float32)
        cdef float[::1] view = out
        if count:
            with nogil:
                count = lumen_ring_peek(&self._ring, &view[0], count)
        return out[:count]

    def advance(self, size_t n):
        """Consume up to ``n`` samples; returns how many."""
        return lumen_ring_advance(&self._ring, n)
