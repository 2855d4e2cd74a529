"""Type stub of the compiled twin: its functions are those of native._kernel_py."""

from native._kernel_py import featurize as featurize
from native._kernel_py import fnv1a as fnv1a
from native._kernel_py import score as score
from native._kernel_py import select as select

IMPLEMENTATION: str
