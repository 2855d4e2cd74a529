"""The data vendored under data/ (see data/README.md), read from its compressed files.

    files("providers")["groq/maruel-genai/2026-06-22_…_Warmup.body.json"]  # -> bytes
    unpack("pricing", tmp_path) / "models.dev"                              # a real folder

A folder's files are its ``*.tar.xz`` archives' members (by their own paths), its ``*.xz``
files decompressed (by their path without ``.xz``) and any other file as it is, all keyed
relative to ``data/<folder>``. The data is part of the repository: nothing here can be
missing, so nothing skips.
"""

from __future__ import annotations

import functools
import lzma
import tarfile
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

DATA = Path(__file__).resolve().parent.parent / "data"


@functools.cache
def files(folder: str) -> Mapping[str, bytes]:
    """Every file vendored under data/<folder>, decompressed, by relative path."""
    root = DATA / folder
    if not root.is_dir():
        raise FileNotFoundError(f"data/{folder}: no such vendored folder (see data/README.md)")
    found: dict[str, bytes] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = path.relative_to(root).as_posix()
        if path.name.endswith(".tar.xz"):
            with tarfile.open(path, mode="r:xz") as tar:
                for member in tar.getmembers():
                    extracted = tar.extractfile(member) if member.isfile() else None
                    if extracted is not None:
                        found[member.name] = extracted.read()
        elif path.suffix == ".xz":
            found[relative.removesuffix(".xz")] = lzma.decompress(path.read_bytes())
        else:
            found[relative] = path.read_bytes()
    return MappingProxyType(found)


def read(folder: str, name: str) -> bytes:
    """One vendored file, e.g. read("providers", "groq/maruel-genai/….body.json")."""
    path = DATA / folder / name
    if path.is_file():
        return path.read_bytes()
    if path.with_name(path.name + ".xz").is_file():  # no need to open every archive
        return lzma.decompress(path.with_name(path.name + ".xz").read_bytes())
    try:
        return files(folder)[name]
    except KeyError:
        raise FileNotFoundError(f"data/{folder}: no vendored file {name!r}") from None


def place(folder: str, name: str, into: Path) -> Path:
    """Write one vendored file at into/<name> (keeping its folders); returns its path."""
    target = into / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(read(folder, name))
    return target


def unpack(folder: str, into: Path) -> Path:
    """Write every file of data/<folder> under `into` (for code that reads a directory)."""
    for name, content in files(folder).items():
        target = into / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    return into
