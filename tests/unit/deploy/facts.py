"""What the deployment files say and what the code says, read once for the deploy tests.

The deploy files (compose.yaml, Dockerfile, deploy/envoy/envoy.yaml) repeat names, ports and
env vars that the code owns; these readers give the tests both sides to compare.
"""

from __future__ import annotations

import re
import shutil
import sys
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from services.shared.providers import load_providers
from services.shared.settings import SuiteSettings
from tests.conftest import ROOT

COMPOSE_FILE = ROOT / "compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
ENVOY_FILE = ROOT / "deploy" / "envoy" / "envoy.yaml"
PROVIDERS_FILE = ROOT / "config" / "providers.toml"

# The Python services: folder services/<name>, compose service <name>, Dockerfile target <name>.
SERVICES = ("catalog", "router", "analytics", "edge")

_SETTING = re.compile(r"""\bsetting\(\s*["']([A-Z][A-Z0-9_]*)["']""")
_ENVIRON = re.compile(r"""\b(?:environ\.get\(|environ\[|getenv\()\s*["']([A-Z][A-Z0-9_]*)["']""")


def tool(name: str) -> str | None:
    """A command-line tool from this interpreter's venv, else from PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.is_file() else shutil.which(name)


@cache
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    return data


def compose_services() -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = compose()["services"]
    return services


def freeway_services() -> dict[str, dict[str, Any]]:
    """Compose services built from one of the Python service targets."""
    return {
        name: svc
        for name, svc in compose_services().items()
        if isinstance(svc.get("build"), dict) and svc["build"].get("target") in SERVICES
    }


def environment(service: dict[str, Any]) -> dict[str, str]:
    """A compose service's environment as a mapping (list form `K=V` included)."""
    env = service.get("environment", {})
    if isinstance(env, list):
        return dict(item.partition("=")[::2] for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def interpolated(value: str) -> str:
    """`value` with every `${VAR…}` replaced as compose would, by a stand-in host value."""
    return re.sub(r"\$\{[^}]*\}", "from-host", value)


@cache
def envoy_config() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(ENVOY_FILE.read_text(encoding="utf-8"))
    return data


# ---- the code's side ----------------------------------------------------------------------------


@cache
def env_names_read_by_code() -> frozenset[str]:
    """Every env var the services read: `setting("NAME", …)` fields and direct environ reads."""
    names: set[str] = set()
    for path in (ROOT / "services").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        names.update(_SETTING.findall(text))
        names.update(_ENVIRON.findall(text))
    return frozenset(names)


@cache
def provider_key_envs() -> frozenset[str]:
    """The api_key_env of every provider in config/providers.toml."""
    providers, errors = load_providers(PROVIDERS_FILE)
    assert not errors, [str(e) for e in errors]
    return frozenset(p.api_key_env for p in providers if p.api_key_env)


def default_address(service: str) -> tuple[str, int]:
    """(host, port) of FREEWAY_<SERVICE>_ADDR's default in services/shared/settings.py."""
    value: str = getattr(SuiteSettings(), f"{service}_addr")
    host, _, port = value.rpartition(":")
    return host, int(port)


def default_port(service: str) -> int:
    return default_address(service)[1]


def address_env(service: str) -> str:
    return f"FREEWAY_{service.upper()}_ADDR"


# ---- the Dockerfile -----------------------------------------------------------------------------


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def args(self, keyword: str) -> list[str]:
        return [rest for kw, rest in self.instructions if kw == keyword]


def dockerfile_lines(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) per instruction, with continuations joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, rest = (pending + line).partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
        pending = ""
    return instructions


@cache
def dockerfile_stages() -> dict[str, Stage]:
    """Stages by name, from `FROM image AS name` lines, with their instructions."""
    stages: dict[str, Stage] = {}
    current: Stage | None = None
    for keyword, rest in dockerfile_lines(DOCKERFILE.read_text(encoding="utf-8")):
        if keyword == "FROM":
            match = re.fullmatch(r"(?:--platform=\S+\s+)?(\S+)\s+AS\s+(\S+)", rest, re.IGNORECASE)
            assert match, f"Dockerfile: every stage is named (FROM image AS name), got {rest!r}"
            current = Stage(match[2], match[1])
            stages[current.name] = current
        elif current is not None:
            current.instructions.append((keyword, rest))
    return stages


@cache
def dockerfile_args() -> dict[str, str]:
    """Global ARG defaults (those before the first FROM)."""
    args: dict[str, str] = {}
    for keyword, rest in dockerfile_lines(DOCKERFILE.read_text(encoding="utf-8")):
        if keyword == "FROM":
            break
        if keyword == "ARG":
            name, _, default = rest.partition("=")
            args[name] = default
    return args


def stage_chain(name: str) -> list[Stage]:
    """The stage and every stage it is built FROM, nearest first."""
    stages = dockerfile_stages()
    chain = [stages[name]]
    while chain[-1].base in stages:
        chain.append(stages[chain[-1].base])
    return chain


def resolved_base(name: str) -> str:
    """The external image a stage finally builds on, with global ARGs substituted."""
    base = stage_chain(name)[-1].base
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: dockerfile_args()[m[1] or m[2]], base)


def stage_env(name: str) -> dict[str, str]:
    """ENV values a stage sees (inherited from its parents, its own last)."""
    env: dict[str, str] = {}
    for stage in reversed(stage_chain(name)):
        for rest in stage.args("ENV"):
            env.update(re.findall(r"(\w+)=(\S+)", rest))
    return env
