"""The stored form of a prompt's model inputs: what usage keeps so the scorer can be refitted.

The router (with the operator's opt-in) stores, for each prompt, exactly what
``featurize`` computes — the dense features and the hashed word / word-pair vector —
never the text. Usage carries at most ``MAX_VALUES`` little-endian float64 values, so the
hashed part is kept sparse, one float64 per non-zero bucket:

    [0]            LAYOUT (-1.0); HASHED_OMITTED (-2.0) when the prompt has more
                   non-zero buckets than fit (its dense part is still kept)
    [1]            the number of hash buckets the vector was computed with
    [2]            s, the largest |value| of the hashed part (0 when it is empty)
    [3 : 3+N_DENSE]  the dense features, in DENSE_FEATURE_NAMES order
    [3+N_DENSE :]  one code per non-zero bucket: round(value / s * 2**32) * 2**20 + bucket

A code is an integer below 2**53, so float64 holds it exactly, and a value is known to
s * 2**-33 (a few parts in 10**10 of the largest), plenty for fitting. A vector over B buckets can
be fitted at any B' <= B by folding (``bucket & (B' - 1)``): the kernel buckets a key by
its low bits, so the folded vector is what ``featurize`` would give at B'. Vectors that
start with a non-negative number are the older layout (dense features and the lexical sum,
which depends on the weights in use, so cannot be refitted on).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from native._common import N_DENSE

LAYOUT = -1.0
HASHED_OMITTED = -2.0
MAX_VALUES = 1024  # what a usage event may carry (services/analytics MAX_FEATURES)
HEADER = 3
MAX_ENTRIES = MAX_VALUES - HEADER - N_DENSE
_BUCKET_BITS = 20  # the kernel allows at most 2**20 buckets
_VALUE_SCALE = float(1 << 32)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class VectorError(ValueError):
    """A stored vector that is not in this layout (or cannot be fitted at these buckets)."""


@dataclass(frozen=True)
class Stored:
    """One decoded vector: dense features, and the hashed part as (bucket, value) pairs."""

    dense: FloatArray
    buckets: IntArray
    values: FloatArray
    hash_buckets: int
    hashed_omitted: bool

    def folded(self, hash_buckets: int) -> tuple[IntArray, FloatArray]:
        """The hashed part over ``hash_buckets`` (a power of two, at most the stored one)."""
        if hash_buckets > self.hash_buckets:
            raise VectorError(
                f"stored with {self.hash_buckets} hash buckets, cannot fit with {hash_buckets}"
            )
        return self.buckets & (hash_buckets - 1), self.values


def encode(dense: FloatArray, hashed: FloatArray) -> FloatArray:
    """The stored form of ``featurize``'s output (its two arrays)."""
    nz = (hashed != 0.0).nonzero()[0]  # a seventh of flatnonzero's time on floats
    omitted = nz.size > MAX_ENTRIES
    largest = float(np.max(np.abs(hashed[nz]))) if nz.size and not omitted else 0.0
    head = np.array([HASHED_OMITTED if omitted else LAYOUT, float(hashed.size), largest])
    if omitted or not nz.size:
        return np.concatenate([head, dense])
    codes = np.rint(hashed[nz] / largest * _VALUE_SCALE) * float(1 << _BUCKET_BITS) + nz
    return np.concatenate([head, dense, codes])


def decode(values: npt.ArrayLike) -> Stored:
    """A stored vector back as arrays; VectorError when it is not in this layout."""
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size < HEADER + N_DENSE or v[0] not in (LAYOUT, HASHED_OMITTED):
        raise VectorError("not a stored feature vector of this layout (an older router's?)")
    hash_buckets = int(v[1])
    if hash_buckets < 1 or hash_buckets & (hash_buckets - 1) or hash_buckets > 1 << _BUCKET_BITS:
        raise VectorError(f"hash buckets: {v[1]!r} is not a power of two up to 2**20")
    dense = v[HEADER : HEADER + N_DENSE]
    codes = v[HEADER + N_DENSE :]
    largest = float(v[2])
    if not (np.all(np.isfinite(v)) and largest >= 0.0):
        raise VectorError("values must be finite")
    bucket = np.mod(codes, float(1 << _BUCKET_BITS))
    if np.any(bucket >= hash_buckets) or np.any(bucket != np.floor(bucket)):
        raise VectorError("a hashed entry names a bucket out of range")
    value = (codes - bucket) / float(1 << _BUCKET_BITS) / _VALUE_SCALE * largest
    return Stored(dense, bucket.astype(np.int64), value, hash_buckets, v[0] == HASHED_OMITTED)
