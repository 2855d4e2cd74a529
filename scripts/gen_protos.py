"""Generate Python gRPC code and .pyi stubs from protos/ into gen/.

The proto package names equal the Python import paths (freeway.catalog.v1 → import
freeway.catalog.v1.catalog_pb2), so generated imports need no rewriting. `--check`
regenerates into a temporary folder and fails if gen/ differs: generated code is
never edited by hand, and CI catches a stale gen/.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
GEN = ROOT / "gen"


def generate(out: Path) -> None:
    from grpc_tools import protoc  # build-time tool: imported only when generating

    protos = sorted(str(p.relative_to(PROTOS)) for p in PROTOS.rglob("*.proto"))
    include = str(Path(protoc.__file__).parent / "_proto")
    plugin = Path(sys.executable).parent / "protoc-gen-mypy_grpc"
    args = [
        "protoc",
        f"--plugin=protoc-gen-mypy_grpc={plugin}",
        f"-I{PROTOS}",
        f"-I{include}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        f"--mypy_grpc_out={out}",
        *protos,
    ]
    if protoc.main(args) != 0:
        sys.exit("protoc failed")
    for folder in [out / "freeway", *(p for p in (out / "freeway").rglob("*") if p.is_dir())]:
        (folder / "__init__.py").touch()
    (out / "freeway" / "py.typed").touch()


def differences(a: Path, b: Path) -> list[str]:
    files_a = {
        p.relative_to(a) for p in a.rglob("*") if p.is_file() and "__pycache__" not in p.parts
    }
    files_b = {
        p.relative_to(b) for p in b.rglob("*") if p.is_file() and "__pycache__" not in p.parts
    }
    changed = [str(p) for p in files_a & files_b if not filecmp.cmp(a / p, b / p, shallow=False)]
    return sorted(
        changed
        + [f"{p} (missing)" for p in files_a - files_b]
        + [f"{p} (extra)" for p in files_b - files_a]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if gen/ is stale")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / "gen"
        fresh.mkdir()
        generate(fresh)
        if args.check:
            stale = differences(fresh, GEN) if GEN.exists() else ["gen/ (missing)"]
            if stale:
                sys.exit("gen/ is stale; run `make gen` and commit:\n  " + "\n  ".join(stale))
            print("gen/ is up to date with protos/")
            return
        shutil.rmtree(GEN, ignore_errors=True)
        shutil.copytree(fresh, GEN)
        print(f"generated {sum(1 for _ in GEN.rglob('*.py*'))} files into gen/")


if __name__ == "__main__":
    main()
