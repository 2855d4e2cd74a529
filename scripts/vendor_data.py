"""Rebuild the vendored data archives from a copy of the source data (provenance tool).

    python scripts/vendor_data.py SOURCE_DIR

SOURCE_DIR holds the data as it was collected (``providers/``, ``pricing/`` …; each folder's
SOURCES.md in the repository says where every file came from). The archives are written
deterministically (sorted members, no timestamps or owners), so rebuilding from the same
files gives the same bytes and ``git diff`` shows only real changes:

- ``data/providers/providers.tar.xz``: every recorded model-list body (``*.body.json``,
  ``*.body-N.json``, ``*.nock.json`` and cline's detail maps) under ``providers/``; the
  go-vcr cassettes they were derived from are left out (nothing reads them).
- ``data/pricing/litellm/<file>.json.xz``: the one LiteLLM price map the tests read.
- ``data/pricing/models.dev.tar.xz``: the models.dev catalogue (``models.dev/…``).
- ``services/simulator/recordings/chat.json.xz``: the chat exchanges of every
  OpenAI-compatible provider under ``chat/`` (the cassettes re-encoded from YAML to JSON,
  nothing else changed), which the provider simulator answers from.
- ``services/simulator/recordings/models/<provider>/<file>.xz``: the model lists it serves.

Only the standard library and PyYAML (a dev dependency); nothing here runs at test or run
time.
"""

from __future__ import annotations

import argparse
import io
import json
import lzma
import sys
import tarfile
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
SIMULATOR = ROOT / "services" / "simulator" / "recordings"
LITELLM = "2025-10-21_llm.js-adaf2a0_model_prices_and_context_window.json"
NATIVE_APIS = {"anthropic", "gemini", "cohere", "ollama"}  # not OpenAI-compatible: not simulated
XZ_PRESET = 9 | lzma.PRESET_EXTREME


def write_tar_xz(target: Path, members: Iterable[tuple[str, bytes]]) -> int:
    """A reproducible .tar.xz of (name, bytes) pairs; returns its size."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content in sorted(members):
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(content))
    packed = lzma.compress(buffer.getvalue(), preset=XZ_PRESET)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(packed)
    return len(packed)


def write_xz(target: Path, content: bytes) -> int:
    packed = lzma.compress(content, preset=XZ_PRESET)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(packed)
    return len(packed)


def tree(root: Path, base: Path, suffixes: tuple[str, ...] = ()) -> list[tuple[str, bytes]]:
    return [
        (path.relative_to(base).as_posix(), path.read_bytes())
        for path in sorted(root.rglob("*"))
        if path.is_file() and (not suffixes or path.name.endswith(suffixes))
    ]


def chat_exchanges(chat: Path) -> list[dict[str, object]]:
    """Every cassette of an OpenAI-compatible provider, as JSON-ready dicts, sorted."""
    import yaml

    cassettes = []
    for path in sorted(chat.glob("*/*/*.yaml")):
        provider, model = path.parent.parent.name, path.parent.name
        if provider in NATIVE_APIS:
            continue
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        cassettes.append(
            {
                "provider": provider,
                "model": model,
                "cassette": path.stem,
                "interactions": doc["interactions"],
            }
        )
    return cassettes


def simulator_models() -> dict[str, str]:
    """provider -> the recorded model-list file the simulator serves (see providers.py)."""
    from services.simulator.providers import PROVIDERS

    return {s.name: s.models for s in PROVIDERS if s.models is not None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python scripts/vendor_data.py", description=__doc__)
    parser.add_argument("source", type=Path, help="the folder holding providers/, pricing/ …")
    args = parser.parse_args(argv)
    source: Path = args.source
    if not (source / "providers").is_dir():
        parser.error(f"{source}: no providers/ folder here")

    bodies = tree(source / "providers", source / "providers", (".json",))
    size = write_tar_xz(DATA / "providers" / "providers.tar.xz", bodies)
    print(f"providers: {len(bodies)} files, {sum(len(b) for _, b in bodies):,} B → {size:,} B")

    litellm = (source / "pricing" / "litellm" / LITELLM).read_bytes()
    size = write_xz(DATA / "pricing" / "litellm" / f"{LITELLM}.xz", litellm)
    print(f"pricing/litellm: {len(litellm):,} B → {size:,} B")

    models_dev = tree(source / "pricing" / "models.dev", source / "pricing")
    size = write_tar_xz(DATA / "pricing" / "models.dev.tar.xz", models_dev)
    total = sum(len(b) for _, b in models_dev)
    print(f"pricing/models.dev: {len(models_dev)} files, {total:,} B → {size:,} B")

    if (source / "chat").is_dir():
        cassettes = chat_exchanges(source / "chat")
        raw = json.dumps(cassettes, ensure_ascii=False, separators=(",", ":")).encode()
        size = write_xz(SIMULATOR / "chat.json.xz", raw)
        print(f"simulator chat: {len(cassettes)} cassettes, {len(raw):,} B → {size:,} B")
    for provider, name in simulator_models().items():
        body = (source / "providers" / provider / "maruel-genai" / name).read_bytes()
        size = write_xz(SIMULATOR / "models" / provider / f"{name}.xz", body)
        print(f"simulator models/{provider}: {len(body):,} B → {size:,} B")
    return 0


if __name__ == "__main__":
    sys.exit(main())
