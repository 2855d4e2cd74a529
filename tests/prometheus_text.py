"""Reading a Prometheus scrape in tests: samples by name and labels, and promtool."""

from __future__ import annotations

import re
import shutil
import subprocess

from tests.conftest import unavailable

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    samples: Samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        labels = frozenset(_LABEL.findall(match[2] or ""))
        samples[(match[1], labels)] = float(match[3])
    return samples


def total(samples: Samples, name: str, **labels: str) -> float:
    """Sum of `name` over every series whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


def promtool() -> str:
    """promtool (Debian's `prometheus` package): a skip locally, a failure under CI=true."""
    path = shutil.which("promtool")
    if path is None:
        unavailable("promtool is not installed (apt-get install -y prometheus; `make lint` does)")
    assert path is not None
    return path


def check_metrics(text: str) -> None:
    """`promtool check metrics` (the exposition format and the naming conventions)."""
    result = subprocess.run(
        [promtool(), "check", "metrics"],
        input=text,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
