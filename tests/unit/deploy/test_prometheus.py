"""deploy/prometheus and deploy/grafana: promtool checks the config and the alert rules and
runs the rules' unit tests; the dashboard queries only metrics the services export."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from tests.conftest import ROOT
from tests.prometheus_text import promtool

PROMETHEUS = ROOT / "deploy" / "prometheus"
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "freeway.json"
SOURCES = [ROOT / "services" / d for d in ("shared", "router", "catalog", "analytics", "edge")]
_NAME = re.compile(r"\b(freeway_[a-z_]+?)(?:_bucket|_count|_sum)?\b")


def _promtool(*args: str) -> None:
    result = subprocess.run(
        [promtool(), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=PROMETHEUS,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("check", "config", "prometheus.yml"),
        ("check", "rules", "alerts.yml"),
        ("test", "rules", "alerts_test.yml"),
    ],
)
def test_promtool_accepts(args: tuple[str, ...]) -> None:
    _promtool(*args)


def _declared() -> set[str]:
    text = "\n".join(p.read_text("utf-8") for d in SOURCES for p in d.rglob("*.py"))
    return set(re.findall(r'"(freeway_[a-z_]+)"', text))


def _used(text: str) -> set[str]:
    return set(_NAME.findall(text))


def test_dashboard_and_alerts_use_only_exported_metrics() -> None:
    declared = _declared()
    dashboard = json.loads(DASHBOARD.read_text("utf-8"))
    exprs = " ".join(t["expr"] for p in dashboard["panels"] for t in p["targets"])
    rules = (PROMETHEUS / "alerts.yml").read_text("utf-8")
    assert _used(exprs)
    assert _used(rules)
    assert _used(exprs) <= declared, _used(exprs) - declared
    assert _used(rules) <= declared, _used(rules) - declared


def test_dashboard_uses_the_provisioned_datasource() -> None:
    dashboard = json.loads(DASHBOARD.read_text("utf-8"))
    source = (ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text("utf-8")
    uid = re.search(r"uid: (\S+)", source)
    assert uid is not None
    assert {p["datasource"]["uid"] for p in dashboard["panels"]} == {uid[1]}
