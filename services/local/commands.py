"""`freeway run` and `freeway demo`: the suite on embedded defaults, in one terminal."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import httpx

from services.local.supervisor import (
    ProcessSpec,
    Suite,
    child_env,
    run_until_interrupted,
)
from services.shared.settings import SuiteSettings, suite_settings
from services.simulator.providers import demo_providers_toml

DEMO_KEY = "freeway-demo-key"
DEMO_SIMULATOR_ADDR = "127.0.0.1:8090"


def banner(settings: SuiteSettings, key_hint: str) -> str:
    gateway = f"http://{settings.envoy_addr}"
    storage = "PostgreSQL" if settings.database_url else f"SQLite under {settings.data_dir}/"
    cache = "Redis" if settings.redis_url else "in-process"
    return "\n".join(
        [
            "",
            f'Freeway is up. OpenAI base_url: {gateway}/v1   (model "auto")',
            f"  envoy      {settings.envoy_addr}   admin {settings.envoy_admin_addr}",
            f"  edge       {settings.edge_addr}",
            f"  catalog    {settings.catalog_addr}   router {settings.router_addr}"
            f"   analytics {settings.analytics_addr}",
            f"  storage    {storage}; cache/limits {cache}",
            f"  api key    {key_hint}",
            f"  try:       curl -s {gateway}/v1/models"
            ' -H "Authorization: Bearer $FREEWAY_ADMIN_KEY"',
            "Ctrl-C stops every process.",
            "",
        ]
    )


def _key_hint(env: dict[str, str]) -> str:
    if env.get("FREEWAY_ADMIN_KEY"):
        return "FREEWAY_ADMIN_KEY (as set)"
    return "none set: export FREEWAY_ADMIN_KEY=… before `make run` to call the API"


async def run_suite() -> int:
    settings = suite_settings()
    env = child_env(settings)
    suite = Suite(settings, env)
    return await run_until_interrupted(suite, banner(settings, _key_hint(env)))


def demo_environment() -> dict[str, str]:
    """Demo defaults, each still overridable from the environment. Unless a providers file
    is given, the demo's own points at wherever the provider simulator listens."""
    defaults = {
        "FREEWAY_DATA_DIR": "var/demo",
        "FREEWAY_ADMIN_KEY": DEMO_KEY,
        "FREEWAY_SIMULATOR_ADDR": DEMO_SIMULATOR_ADDR,
    }
    env = {**defaults, **{k: v for k, v in os.environ.items() if v}}
    if "FREEWAY_PROVIDERS_FILE" not in env:
        providers = Path(env["FREEWAY_DATA_DIR"]) / "providers.toml"
        providers.parent.mkdir(parents=True, exist_ok=True)
        url = f"http://{env['FREEWAY_SIMULATOR_ADDR']}"
        providers.write_text(demo_providers_toml(url), encoding="utf-8")
        env["FREEWAY_PROVIDERS_FILE"] = str(providers)
    return env


async def run_demo(prompt: str) -> int:
    env = demo_environment()
    settings = suite_settings(env)
    simulator_addr = env["FREEWAY_SIMULATOR_ADDR"]
    simulator = ProcessSpec(
        "simulator",
        [sys.executable, "-m", "services.simulator", "--addr", simulator_addr],
        ("http", f"http://{simulator_addr}/_simulator/health"),
    )
    suite = Suite(settings, child_env(settings, env), before=[simulator])
    key = env["FREEWAY_ADMIN_KEY"]
    return await run_until_interrupted(
        suite, banner(settings, f"{key} (demo)"), lambda: demo_completion(settings, key, prompt)
    )


async def demo_completion(settings: SuiteSettings, key: str, prompt: str) -> str:
    """One routed completion through Envoy, shown the way a newcomer wants to see it."""
    url = f"http://{settings.envoy_addr}/v1/chat/completions"
    body = {"model": "auto", "messages": [{"role": "user", "content": prompt}]}
    async with httpx.AsyncClient(timeout=30) as client:
        for _ in range(50):  # the catalog's first poll may still be on its way
            reply = await client.post(url, json=body, headers={"Authorization": f"Bearer {key}"})
            if reply.status_code != 503:
                break
            await asyncio.sleep(0.2)
        reply.raise_for_status()
        data = reply.json()
    text = data["choices"][0]["message"]["content"]
    usage = data.get("usage", {})
    return (
        f'\nRouted completion (model "auto" → {data["model"]}):\n  > {prompt}\n  < {text}\n'
        f"  tokens: {usage.get('prompt_tokens')} in, {usage.get('completion_tokens')} out\n"
    )
