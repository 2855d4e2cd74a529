"""`freeway run` and `freeway demo`: the suite on embedded defaults, in one terminal."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import ssl
import sys
from pathlib import Path

import httpx

from services.local.envoy import dev_certificate
from services.local.supervisor import (
    TOKEN_ENV,
    TOKEN_FILE,
    ProcessSpec,
    Suite,
    SuiteError,
    child_env,
    run_until_interrupted,
)
from services.shared.metrics import PATH as METRICS_PATH
from services.shared.metrics import metrics_address
from services.shared.settings import SuiteSettings, suite_settings
from services.simulator.providers import demo_providers_toml

DEMO_KEY = "freeway-demo-key"
DEMO_SIMULATOR_ADDR = "127.0.0.1:8090"


def banner(settings: SuiteSettings, key_hint: str, token_hint: str = "") -> str:
    gateway = gateway_url(settings)
    storage = "PostgreSQL" if settings.database_url else f"SQLite under {settings.data_dir}/"
    cache = "Redis" if settings.redis_url else "in-process"
    tls = f"  tls        {settings.envoy_tls_cert}" if settings.envoy_tls_cert else ""
    return "\n".join(
        [
            "",
            f'Freeway is up. OpenAI base_url: {gateway}/v1   (model "auto")',
            f"  envoy      {settings.envoy_addr}   admin {settings.envoy_admin_addr}",
            f"  edge       {settings.edge_addr}",
            f"  catalog    {settings.catalog_addr}   router {settings.router_addr}"
            f"   analytics {settings.analytics_addr}",
            f"  metrics    {metrics_urls(settings)}",
            f"  storage    {storage}; cache/limits {cache}",
            f"  api key    {key_hint}",
            *([f"  gRPC token {token_hint}"] if token_hint else []),
            *([tls] if tls else []),
            f"  try:       curl -s{f' --cacert {settings.envoy_tls_cert}' if tls else ''}"
            f" {gateway}/v1/models"
            ' -H "Authorization: Bearer $FREEWAY_ADMIN_KEY"',
            "Ctrl-C stops every process; one that dies is restarted.",
            "",
        ]
    )


def metrics_urls(settings: SuiteSettings) -> str:
    """Where Prometheus scrapes each service (replicas: the next ports up)."""
    urls = [f"http://{settings.edge_addr.split(',')[0].strip()}{METRICS_PATH}"]
    for service in ("catalog", "router", "analytics"):
        address = getattr(settings, f"{service}_addr")
        host, port = metrics_address(address, getattr(settings, f"{service}_metrics_port"))
        urls.append(f"http://{host}:{port}{METRICS_PATH}")
    return "  ".join(urls)


def gateway_url(settings: SuiteSettings) -> str:
    scheme = "https" if settings.envoy_tls_cert else "http"
    return f"{scheme}://{settings.envoy_addr}"


def _token_hint(env: dict[str, str], settings: SuiteSettings) -> str:
    """Where an operator finds the service token grpcurl needs."""
    if env.get(TOKEN_ENV):
        return f"{TOKEN_ENV} (as set)"
    path = settings.data_dir / TOKEN_FILE
    return f'{path}  (grpcurl -H "authorization: Bearer $(cat {path})" …)'


def with_tls(settings: SuiteSettings, env: dict[str, str], tls: bool) -> SuiteSettings:
    """With `tls` and no certificate given, a development one (openssl) under the data dir."""
    if not tls or settings.envoy_tls_cert:
        return settings
    try:
        cert, key = dev_certificate(settings.data_dir / "tls")
    except (OSError, ValueError) as exc:
        raise SuiteError(f"cannot make a development certificate: {exc}") from exc
    env["FREEWAY_ENVOY_TLS_CERT"], env["FREEWAY_ENVOY_TLS_KEY"] = str(cert), str(key)
    return dataclasses.replace(settings, envoy_tls_cert=cert, envoy_tls_key=key)


def _key_hint(env: dict[str, str]) -> str:
    if env.get("FREEWAY_ADMIN_KEY"):
        return "FREEWAY_ADMIN_KEY (as set)"
    return "none set: export FREEWAY_ADMIN_KEY=… before `make run` to call the API"


async def run_suite(tls: bool = False) -> int:
    env = dict(os.environ)
    try:
        settings = with_tls(suite_settings(env), env, tls)
    except SuiteError as exc:
        print(f"freeway: {exc}", file=sys.stderr)
        return 1
    suite = Suite(settings, child_env(settings, env))
    text = banner(settings, _key_hint(env), _token_hint(env, settings))
    return await run_until_interrupted(suite, text)


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


async def run_demo(prompt: str, tls: bool = False) -> int:
    env = demo_environment()
    try:
        settings = with_tls(suite_settings(env), env, tls)
    except SuiteError as exc:
        print(f"freeway: {exc}", file=sys.stderr)
        return 1
    simulator_addr = env["FREEWAY_SIMULATOR_ADDR"]
    simulator = ProcessSpec(
        "simulator",
        [sys.executable, "-m", "services.simulator", "--addr", simulator_addr],
        ("http", f"http://{simulator_addr}/_simulator/health"),
        (("FREEWAY_SIMULATOR_ADDR", simulator_addr),),
    )
    suite = Suite(settings, child_env(settings, env), before=[simulator])
    key = env["FREEWAY_ADMIN_KEY"]
    text = banner(settings, f"{key} (demo)", _token_hint(env, settings))
    return await run_until_interrupted(suite, text, lambda: demo_completion(settings, key, prompt))


async def demo_completion(settings: SuiteSettings, key: str, prompt: str) -> str:
    """One routed completion through Envoy, shown the way a newcomer wants to see it."""
    url = f"{gateway_url(settings)}/v1/chat/completions"
    body = {"model": "auto", "messages": [{"role": "user", "content": prompt}]}
    verify: ssl.SSLContext | bool = True
    if settings.envoy_tls_cert:
        verify = ssl.create_default_context(cafile=str(settings.envoy_tls_cert))
    async with httpx.AsyncClient(timeout=30, verify=verify) as client:
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
