"""Rebuild the compiled kernel in place: ``python scripts/build_native.py [--tuned] [--annotate]``.

Portable flags by default. ``--tuned`` adds CPU tuning from ``FREEWAY_CPU``: on x86-64
``-march=$FREEWAY_CPU`` (default ``native``), on aarch64 ``-mcpu=$FREEWAY_CPU`` (default
``neoverse-n1``, Ampere A1). ``-ffp-contract=off`` is always on: fused multiply-adds would
round differently from the pure-Python twin.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = "native/_kernel_c.pyx"
PORTABLE_FLAGS = ("-O3", "-ffp-contract=off")


def tuning_flags(machine: str | None = None, cpu: str | None = None) -> list[str]:
    """The CPU-tuning flag for ``machine`` (default: this one)."""
    machine = (machine or platform.machine()).lower()
    if machine in ("aarch64", "arm64"):
        return [f"-mcpu={cpu or os.environ.get('FREEWAY_CPU') or 'neoverse-n1'}"]
    return [f"-march={cpu or os.environ.get('FREEWAY_CPU') or 'native'}"]


def compile_flags(tuned: bool) -> list[str]:
    """Every extra compiler flag for this build."""
    return [*PORTABLE_FLAGS, *(tuning_flags() if tuned else [])]


def build(tuned: bool = False, annotate: bool = False) -> Path:
    """Cythonize and compile native/_kernel_c in place; return the built module's path."""
    from Cython.Build import cythonize
    from setuptools import Distribution, Extension  # type: ignore[import-untyped]

    os.chdir(ROOT)
    flags = compile_flags(tuned)
    extension = Extension("native._kernel_c", [SOURCE], extra_compile_args=flags)
    modules = cythonize(  # type: ignore[no-untyped-call]
        [extension], annotate=annotate, force=True, quiet=True
    )
    with tempfile.TemporaryDirectory(prefix="freeway-native-") as scratch:
        dist = Distribution({"name": "freeway-native", "ext_modules": modules})
        command = dist.get_command_obj("build_ext")
        command.build_lib = scratch
        command.build_temp = os.path.join(scratch, "tmp")
        command.force = True
        dist.run_command("build_ext")
        (built,) = Path(scratch, "native").glob("_kernel_c.*")
        target = ROOT / "native" / built.name
        # A rename, not an overwrite: a process that has the old module mapped keeps it.
        shutil.copy2(built, target.with_suffix(".new"))
        os.replace(target.with_suffix(".new"), target)
    print(f"built {target.relative_to(ROOT)} with {' '.join(flags)}")
    return target


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/build_native.py", description=__doc__)
    parser.add_argument("--tuned", action="store_true", help="tune for FREEWAY_CPU / this CPU")
    parser.add_argument("--annotate", action="store_true", help="write native/_kernel_c.html")
    args = parser.parse_args(argv)
    build(tuned=args.tuned, annotate=args.annotate)
    return 0


if __name__ == "__main__":
    sys.exit(main())
