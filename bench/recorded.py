"""Recorded model-list bodies for the benchmarks: each provider's newest recorded listing.

The recordings are vendored in ``data/providers/providers.tar.xz`` (member paths
``<provider>/maruel-genai/<date>_<commit>_…body[-N].json``); a checkout from before that
archive holds the same bodies under ``tests/fixtures/providers/<provider>/``. Either is real
data; a provider recorded in neither is an error, never an invented list.
"""

from __future__ import annotations

import functools
import re
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ARCHIVE = ROOT / "data" / "providers" / "providers.tar.xz"
FIXTURES = ROOT / "tests" / "fixtures" / "providers"
_BODY = re.compile(r"^(\d{4}-\d{2}-\d{2}_[0-9a-f]+)_.*\.body(?:-\d+)?\.json$")


@functools.cache
def _bodies() -> dict[str, dict[str, bytes]]:
    """provider → {file name: body} of every recorded maruel-genai listing."""
    found: dict[str, dict[str, bytes]] = {}
    if ARCHIVE.is_file():
        with tarfile.open(ARCHIVE, mode="r:xz") as tar:
            for member in tar.getmembers():
                provider, _, rest = member.name.partition("/")
                folder, _, name = rest.partition("/")
                extracted = tar.extractfile(member) if member.isfile() else None
                if folder == "maruel-genai" and _BODY.match(name) and extracted is not None:
                    found.setdefault(provider, {})[name] = extracted.read()
    elif FIXTURES.is_dir():
        for path in sorted(FIXTURES.glob("*/*.json")):
            if _BODY.match(path.name):
                found.setdefault(path.parent.name, {})[path.name] = path.read_bytes()
    return found


def newest_listing(provider: str) -> list[bytes]:
    """The pages of ``provider``'s newest recorded model list (one or more bodies)."""
    bodies = _bodies().get(provider, {})
    if not bodies:
        raise FileNotFoundError(f"no recorded model list of {provider!r} in {ARCHIVE}")
    stamps = {name: _BODY.match(name).group(1) for name in bodies}  # type: ignore[union-attr]
    newest = max(stamps.values())
    return [bodies[name] for name in sorted(bodies) if stamps[name] == newest]


def recorded_providers() -> list[str]:
    return sorted(_bodies())
