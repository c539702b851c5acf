"""The shipped Grafana dashboard and Prometheus alerts: they parse, and every expression names
only metrics the exporter serves (taken from a real scrape, not from a list kept by hand).
Where promtool is installed, it checks the syntax and runs the alerts against test series."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tests.ops.support import record_requests
from tracking_worker.devtools import demo_providers
from tracking_worker.keys import Keys
from tracking_worker.ops.exporter import registry
from tracking_worker.settings import build_settings
from tracking_worker.store.routes import RoutePause
from tracking_worker.store.runs import mark_tick

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "config" / "grafana" / "tracking-worker.json"
ALERTS = ROOT / "config" / "prometheus" / "alerts.yml"

PROMQL_WORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool",
    "and", "or", "unless", "offset", "inf", "nan",
}  # fmt: skip
GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
PANELS = {
    "Throughput per provider (events/s)",
    "Backlog",
    "Age of the oldest pending event",
    "Dead letters",
    "Circuit state",
    "Request latency percentiles",
}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads: what is left once strings, label matchers,
    ranges, grouping label lists, Grafana variables, functions and keywords are taken out."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', "", expr)
    text = re.sub(r"\{[^}]*\}", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)
    text = GROUPING.sub("", text)
    text = re.sub(r"\$\w+", "", text)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        follows = text[match.end() :].lstrip()[:1]
        word = match.group()
        if follows != "(" and word.lower() not in PROMQL_WORDS:
            names.add(word)
    return names


@pytest.fixture
def served(redis_url: str, redis_client: redis.Redis) -> set[str]:
    """Every sample name of a scrape with data in every family (a request, a tick)."""
    settings = build_settings(
        {"redis": {"url": redis_url}, "providers": demo_providers("http://127.0.0.1:9")}
    )
    record_requests(redis_client, "graspil", [("2xx", 0.1)])
    mark_tick(redis_client)
    pause = RoutePause("targets", "Graspil: target_id: Unknown target_id", 200, "f", 0.0)
    redis_client.hset(Keys("graspil").routes, "purchase", pause.to_json())
    redis_client.hset(Keys("giosg").circuit, mapping={"state": "open", "setting": "rooms"})
    text = generate_latest(registry(settings, redis_client)).decode()
    return {s.name for f in text_string_to_metric_families(text) for s in f.samples}


@cache
def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


@cache
def alert_rules() -> list[dict[str, Any]]:
    loaded = yaml.safe_load(ALERTS.read_text())
    return [rule for group in loaded["groups"] for rule in group["rules"]]


def dashboard_exprs() -> list[str]:
    return [t["expr"] for p in dashboard()["panels"] for t in p["targets"]]


def test_the_expression_reader_finds_metrics_only() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (provider, le) (rate(a_bucket{provider=~"$provider"}'
        "[$__rate_interval]))) > ignoring (provider) group_left () (30 * b) and on (job) c"
    )
    assert metric_names(expr) == {"a_bucket", "b", "c"}


def test_the_dashboard_shows_the_panels_operators_need(served: set[str]) -> None:
    board = dashboard()
    assert {p["title"] for p in board["panels"]} >= PANELS
    assert board["uid"] == "tracking-worker"
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in board["panels"]:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            unknown = metric_names(target["expr"]) - served
            assert not unknown, f"{panel['title']}: {unknown} not served"


def test_the_alerts_name_served_metrics_only(served: set[str]) -> None:
    rules = alert_rules()
    assert {r["alert"] for r in rules} >= {
        "TrackingWorkerProviderPaused",
        "TrackingWorkerDeadLettersRising",
        "TrackingWorkerBacklogStuck",
        "TrackingWorkerNoTick",
        "TrackingWorkerEventsLost",
    }
    for rule in rules:
        assert rule["annotations"]["summary"] and rule["labels"]["severity"]
        unknown = metric_names(rule["expr"]) - served
        assert not unknown, f"{rule['alert']}: {unknown} not served"


needs_promtool = pytest.mark.skipif(shutil.which("promtool") is None, reason="no promtool")


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["promtool", *args], capture_output=True, text=True, timeout=60, check=False
    )


@needs_promtool
def test_promtool_accepts_every_expression(tmp_path: Path) -> None:
    done = promtool("check", "rules", str(ALERTS))
    assert done.returncode == 0, done.stdout + done.stderr
    # Grafana's variables as Prometheus would see them once substituted.
    substitutes = {"$__rate_interval": "5m", "$__range": "1h", "$provider": ".*"}
    records = []
    for i, expr in enumerate(dashboard_exprs()):
        for variable, value in substitutes.items():
            expr = expr.replace(variable, value)
        records.append({"record": f"dashboard:expr_{i}", "expr": expr})
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": records}]}))
    done = promtool("check", "rules", str(path))
    assert done.returncode == 0, done.stdout + done.stderr


@needs_promtool
def test_every_alert_fires_on_what_it_describes(tmp_path: Path) -> None:
    """promtool's rule tests, on a copy without annotations (templated text is not what is
    tested here): each alert, fed the series of its failure, fires with these labels."""
    rules = tmp_path / "alerts.yml"
    loaded = yaml.safe_load(ALERTS.read_text())
    for group in loaded["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations")
    rules.write_text(yaml.safe_dump(loaded))
    where = {"job": "tw", "instance": "x"}
    one = {**where, "provider": "graspil"}

    def series(name: str, values: str, **labels: str) -> dict[str, str]:
        text = ",".join(f'{k}="{v}"' for k, v in labels.items())
        return {"series": f"{name}{{{text}}}", "values": values}

    inputs = [
        series("tracking_worker_up", "0x20", **where),
        series("tracking_worker_circuit_state", "2x20", **one),
        series("tracking_worker_pending_events", "5x20", **one),
        series("tracking_worker_retry_scheduled_events", "0x20", **one),
        series("tracking_worker_events_total", "0+1x20", **one, outcome="rejected"),
        series("tracking_worker_events_total", "0 0 0 0 0 3x15", **one, outcome="lost"),
        series("tracking_worker_dead_letters_trimmed_total", "0 0 5x18", **one),
        series("tracking_worker_oldest_pending_seconds", "0+60x20", **one),
        series("tracking_worker_flush_interval_seconds", "2x20", **where),
        series("tracking_worker_last_tick_timestamp_seconds", "0x20", **where),
        series(
            "tracking_worker_paused_route",
            "1x20",
            **one,
            route="purchase",
            setting="targets",
            reason="Graspil: target_id: Unknown target_id",
        ),
    ]
    expected = {
        "TrackingWorkerExporterCannotReadRedis": {**where, "severity": "critical"},
        "TrackingWorkerProviderPaused": {**one, "severity": "critical"},
        "TrackingWorkerDeadLettersRising": {**one, "severity": "warning"},
        "TrackingWorkerDeadLettersTrimmed": {**one, "severity": "warning"},
        "TrackingWorkerBacklogStuck": {**one, "severity": "warning"},
        "TrackingWorkerNoTick": {**where, "severity": "critical"},
        "TrackingWorkerEventsLost": {**one, "outcome": "lost", "severity": "critical"},
        "TrackingWorkerSettingWrong": {
            **one,
            "route": "purchase",
            "setting": "targets",
            "reason": "Graspil: target_id: Unknown target_id",
            "severity": "critical",
        },
    }
    assert set(expected) == {r["alert"] for r in alert_rules()}
    tests = {
        "rule_files": [str(rules)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": inputs,
                "alert_rule_test": [
                    {"eval_time": "15m", "alertname": name, "exp_alerts": [{"exp_labels": labels}]}
                    for name, labels in expected.items()
                ],
            }
        ],
    }
    path = tmp_path / "alerts-test.yml"
    path.write_text(yaml.safe_dump(tests))
    done = promtool("test", "rules", str(path))
    assert done.returncode == 0, done.stdout + done.stderr
