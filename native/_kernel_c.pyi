"""Type stub of the compiled twin; the signatures are those of native._kernel_py."""

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from native._common import Catalogue, Score, Weights

IMPLEMENTATION: str

def fnv1a(word: bytes) -> int: ...
def score(
    messages: Sequence[tuple[str, str]], max_output_tokens: int, needs: int, weights: Weights
) -> Score: ...
def featurize(
    messages: Sequence[tuple[str, str]], max_output_tokens: int, needs: int, hash_buckets: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]: ...
def select(
    score: float,
    cat: Catalogue,
    needs: int,
    min_context: int,
    max_price: float,
    strategy: int,
    k: int,
    seed: int,
    hybrid: tuple[float, float, float, float] | None = None,
) -> npt.NDArray[np.int32]: ...
