"""The alert rules, dashboards and runbooks under deploy/monitoring/ and docs/runbooks/, checked
against the metrics the services really define.

The inventory is read from the Prometheus registries of the services as `create_app` builds
them (every service, the gateway's audit trail included), not from a list kept by hand: a
metric renamed or a label dropped in the code fails here, as does an expression naming a
metric or label that no service exposes. PromQL is checked only as far as a small tokenizer
can: balanced brackets, known functions and aggregations, well-formed range durations and
label matchers. The full grammar, and what the rules do with series, is promtool's, in
`make helm-check` (deploy/monitoring/alerts_test.yml).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from crm_analytics.config import AnalyticsSettings
from crm_analytics.main import create_app as create_analytics
from crm_ats_sync.config import AtsSyncSettings
from crm_ats_sync.main import create_app as create_ats_sync
from crm_campaigns.config import CampaignsSettings
from crm_campaigns.main import create_app as create_campaigns
from crm_candidates.config import CandidatesSettings
from crm_candidates.main import create_app as create_candidates
from crm_events.config import EventsSettings
from crm_events.main import create_app as create_events
from crm_gateway.main import create_app as create_gateway
from crm_shared import Platform
from helpers import ats_secret_keys
from internal_keys import INTERNAL_TOKEN_PUBLIC_KEY
from unit.gateway.fakes import settings as gateway_settings

pytestmark = pytest.mark.unit

REPO_ROOT = Path(__file__).resolve().parents[3]
MONITORING = REPO_ROOT / "deploy" / "monitoring"
ALERTS_FILE = MONITORING / "alerts.yml"
SCRAPE_FILE = MONITORING / "prometheus.yml"
DASHBOARDS = sorted((MONITORING / "dashboards").glob("*.json"))
RUNBOOKS = REPO_ROOT / "docs" / "runbooks"

COMMON: dict[str, Any] = {
    "link_signing_secret": "unit-tests-link-signing-secret-0123456789",
    "internal_token_public_key": INTERNAL_TOKEN_PUBLIC_KEY,
    "log_json": False,
    # The lag sampler exists only where consumers run and sampling is on; both are the defaults,
    # stated here so that the inventory never silently loses the lag metrics.
    "kafka_consumers_enabled": True,
    "consumer_lag_sample_seconds": 15.0,
}
BUILDERS: dict[str, Callable[[], FastAPI]] = {
    "gateway": lambda: create_gateway(gateway_settings()),
    "candidates": lambda: create_candidates(CandidatesSettings(**COMMON)),
    "campaigns": lambda: create_campaigns(
        CampaignsSettings(tracking_secret="unit-tests-tracking-secret-0123456789", **COMMON)
    ),
    "events": lambda: create_events(EventsSettings(**COMMON)),
    "ats-sync": lambda: create_ats_sync(
        AtsSyncSettings(ats_secret_keys=ats_secret_keys(), **COMMON)
    ),
    "analytics": lambda: create_analytics(AnalyticsSettings(**COMMON)),
}
# Labels Prometheus attaches to every scraped series.
TARGET_LABELS = frozenset({"job", "instance"})

# What the rule expressions and dashboards may call (PromQL functions and aggregations).
FUNCTIONS = frozenset(
    re.findall(
        r"\S+",
        """abs absent absent_over_time avg_over_time ceil changes clamp clamp_max clamp_min
        count_over_time day_of_month day_of_week days_in_month delta deriv exp floor
        histogram_quantile holt_winters hour idelta increase irate label_join label_replace
        last_over_time ln log2 log10 max_over_time min_over_time minute month predict_linear
        present_over_time quantile_over_time rate resets round scalar sgn sort sort_desc sqrt
        stddev_over_time stdvar_over_time sum_over_time time timestamp vector year""",
    )
)
AGGREGATIONS = frozenset(
    re.findall(
        r"\S+", "sum min max avg group stddev stdvar count count_values bottomk topk quantile"
    )
)
GROUPING = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})
KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset"})
# Grafana's own variables, replaced by what they stand for before the expression is checked.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}


def _series_of(registry: CollectorRegistry) -> Iterator[tuple[str, set[str]]]:
    """(series name as exposed, its labels) for each metric of the registry."""
    # prometheus_client has no public way to list a metric's label names; `_labelnames` is
    # what its own exposition uses. The check below the inventory keeps this honest.
    for collector in list(registry._collector_to_names):
        labelnames = set(getattr(collector, "_labelnames", ()))
        for family in collector.collect():
            name, kind = family.name, family.type
            if kind == "counter":
                yield f"{name}_total", labelnames
                yield f"{name}_created", labelnames
            elif kind == "histogram":
                yield f"{name}_bucket", labelnames | {"le"}
                yield f"{name}_sum", labelnames
                yield f"{name}_count", labelnames
                yield f"{name}_created", labelnames
            elif kind == "stateset":  # an Enum: one series per state, labelled by the metric
                yield name, labelnames | {name}
            elif kind == "info":
                yield f"{name}_info", labelnames
            else:
                yield name, labelnames


@cache
def exposed_metrics() -> dict[str, set[str]]:
    """Every series name any service exposes, with the union of its labels."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    inventory: dict[str, set[str]] = {}
    try:
        for build in BUILDERS.values():
            app = build()
            # Starlette instantiates middleware (the HTTP metrics among them) on first use.
            app.build_middleware_stack()
            platform = app.state.platform
            assert isinstance(platform, Platform)
            for name, labels in _series_of(platform.registry):
                inventory.setdefault(name, set()).update(labels | TARGET_LABELS)
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
    return inventory


def test_the_inventory_sees_the_metrics_the_platform_is_known_to_define() -> None:
    inventory = exposed_metrics()
    assert inventory["crm_http_requests_total"] >= {"method", "route", "status", "job"}
    assert inventory["crm_consumer_lag_records"] >= {"group", "topic", "partition"}
    assert inventory["crm_audit_entries_dropped_total"] >= {"job"}
    assert "crm_http_requests" not in inventory  # counters are scraped with `_total`


# --- a small PromQL tokenizer -----------------------------------------------------------------

TOKEN = re.compile(
    r"""(?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
    |(?P<duration>\[[^\]]*\])
    |(?P<number>\d+(?:\.\d+)?(?:e[+-]?\d+)?)
    |(?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
    |(?P<op>==|!=|=~|!~|>=|<=|[-+*/%^<>=,(){}])
    |(?P<space>\s+)
    |(?P<other>.)""",
    re.VERBOSE,
)
DURATION = re.compile(r"^\[(\d+(ms|s|m|h|d|w|y))+(:(\d+(ms|s|m|h|d|w|y))*)?\]$")


@dataclass
class Usage:
    """What one expression refers to."""

    metrics: list[tuple[str, set[str]]] = field(default_factory=list)  # (name, matcher labels)
    grouping_labels: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)


def tokens(expr: str) -> list[tuple[str, str]]:
    """(kind, text) of each token of `expr`, Grafana's variables replaced, spaces dropped."""
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    return [
        (match.lastgroup or "", match.group())
        for match in TOKEN.finditer(expr)
        if match.lastgroup != "space"
    ]


def analyse(expr: str) -> Usage:
    """The metrics, labels and syntax problems of one PromQL expression."""
    usage = Usage()
    toks = tokens(expr)
    depth = {"(": 0, "{": 0}
    closing = {")": "(", "}": "{"}
    i = 0
    while i < len(toks):
        kind, text = toks[i]
        following = toks[i + 1][1] if i + 1 < len(toks) else ""
        if kind == "other":
            usage.problems.append(f"unexpected {text!r}")
        elif kind == "duration" and not DURATION.match(text):
            usage.problems.append(f"bad range {text}")
        elif text in depth:
            depth[text] += 1
        elif text in closing:
            depth[closing[text]] -= 1
            if depth[closing[text]] < 0:
                usage.problems.append(f"unbalanced {text!r}")
        elif kind == "ident" and text in KEYWORDS:
            pass
        elif kind == "ident" and text in GROUPING:
            if following == "(":
                j = i + 2
                while j < len(toks) and toks[j][1] != ")":
                    if toks[j][0] == "ident":
                        usage.grouping_labels.add(toks[j][1])
                    j += 1
                i = j
        elif kind == "ident" and (following == "(" or text in AGGREGATIONS):
            if text not in FUNCTIONS | AGGREGATIONS:
                usage.problems.append(f"unknown function {text}")
        elif kind == "ident":
            labels: set[str] = set()
            if following == "{":
                i, labels = _matchers(toks, i + 2, text, usage)
            usage.metrics.append((text, labels))
        i += 1
    for opening, count in depth.items():
        if count:
            usage.problems.append(f"unbalanced {opening!r}")
    return usage


def _matchers(
    toks: list[tuple[str, str]], i: int, metric: str, usage: Usage
) -> tuple[int, set[str]]:
    """The labels of the matchers from `i` to the closing brace, and the brace's index."""
    labels: set[str] = set()
    while i < len(toks) and toks[i][1] != "}":
        name, operator, value = (toks[i : i + 3] + [("", "")] * 3)[:3]
        if name[0] != "ident" or operator[1] not in {"=", "!=", "=~", "!~"}:
            usage.problems.append(f"bad matcher after {metric}")
            break
        if value[0] != "string":
            usage.problems.append(f"unquoted value of {name[1]}")
        labels.add(name[1])
        i += 3
        if i < len(toks) and toks[i][1] == ",":
            i += 1
    return i, labels


def check(expr: str, where: str) -> list[str]:
    """Everything wrong with `expr` against the services' metrics, each naming `where`."""
    inventory = exposed_metrics()
    usage = analyse(expr)
    errors = [f"{where}: {problem}" for problem in usage.problems]
    if not usage.metrics:
        errors.append(f"{where}: uses no metric")
    available: set[str] = set()
    for name, labels in usage.metrics:
        if name not in inventory:
            errors.append(f"{where}: no service exposes {name}")
            continue
        available |= inventory[name]
        for label in sorted(labels - inventory[name]):
            errors.append(f"{where}: {name} has no label {label}")
    for label in sorted(usage.grouping_labels - available - {"le"} - TARGET_LABELS):
        errors.append(f"{where}: groups by {label}, which none of its metrics has")
    return errors


def test_the_checker_catches_what_it_claims_to() -> None:
    assert check("sum(rate(crm_http_requests_total[5m]))", "ok") == []
    assert check("rate(crm_http_requests[5m])", "e") == ["e: no service exposes crm_http_requests"]
    assert check('crm_dead_letter_records{group="x"}', "e") == [
        "e: crm_dead_letter_records has no label group"
    ]
    assert check("sum by (tenant) (crm_outbox_pending_records)", "e") == [
        "e: groups by tenant, which none of its metrics has"
    ]
    assert check("rate(crm_http_requests_total[5m]", "e") == ["e: unbalanced '('"]
    assert check("rates(crm_http_requests_total[5m])", "e") == ["e: unknown function rates"]
    assert check("rate(crm_http_requests_total[5 m])", "e") == ["e: bad range [5 m]"]


# --- the alert rules ---------------------------------------------------------------------------


def alert_rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(ALERTS_FILE.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def test_the_rule_file_has_the_standard_shape() -> None:
    document = yaml.safe_load(ALERTS_FILE.read_text())
    assert set(document) == {"groups"}
    names = [group["name"] for group in document["groups"]]
    assert len(names) == len(set(names))
    alerts = [rule["alert"] for rule in alert_rules()]
    assert len(alerts) == len(set(alerts)), "alert names must be unique"
    for rule in alert_rules():
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations", "keep_firing_for"}
        assert re.fullmatch(r"[A-Z][A-Za-z0-9]+", rule["alert"])
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}
        if "for" in rule:
            assert re.fullmatch(r"\d+[smh]", rule["for"])


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda rule: rule["alert"])
def test_every_alert_uses_real_metrics_and_labels(rule: dict[str, Any]) -> None:
    assert check(rule["expr"], rule["alert"]) == []


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda rule: rule["alert"])
def test_every_alert_explains_itself_and_links_an_existing_runbook(rule: dict[str, Any]) -> None:
    annotations = rule["annotations"]
    assert annotations["summary"].strip()
    assert annotations["description"].strip()
    link = annotations["runbook_url"]
    path, _, anchor = link.partition("#")
    assert path.startswith("docs/runbooks/"), link
    runbook = REPO_ROOT / path
    assert runbook.is_file(), f"{rule['alert']}: {path} does not exist"
    if anchor:
        assert anchor in _anchors(runbook), f"{rule['alert']}: no #{anchor} in {path}"
    # The runbook names the alert, so the reader who followed the link finds their symptom.
    assert rule["alert"] in runbook.read_text()


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda rule: rule["alert"])
def test_annotations_name_only_labels_the_alert_carries(rule: dict[str, Any]) -> None:
    # An aggregation keeps only its `by` labels: `{{ $labels.topic }}` after `sum by (job)`
    # would render empty in every notification.
    kept = analyse(rule["expr"]).grouping_labels
    for text in rule["annotations"].values():
        for label in re.findall(r"\$labels\.(\w+)", text):
            assert label in kept, f"{rule['alert']}: $labels.{label} is aggregated away"


def _anchors(markdown: Path) -> set[str]:
    headings = re.findall(r"^#+ (.+)$", markdown.read_text(), re.MULTILINE)
    return {re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-") for h in headings}


def test_the_bus_and_http_alerts_the_operators_asked_for_exist() -> None:
    used = {name for rule in alert_rules() for name, _ in analyse(rule["expr"]).metrics}
    assert used >= {
        "crm_consumer_lag_records",
        "crm_consumed_events_total",
        "crm_dead_letter_records",
        "crm_outbox_oldest_pending_age_seconds",
        "crm_http_requests_total",
    }


# --- the dashboards ----------------------------------------------------------------------------


def dashboard_queries(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, PromQL) of every panel target and every `label_values` variable."""
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            yield f"{dashboard['uid']}/{panel['title']}/{target['refId']}", target["expr"]
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable["type"] != "query":
            continue
        query = variable["query"]["query"] if isinstance(variable["query"], dict) else ""
        match = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", query)
        assert match, f"{dashboard['uid']}: variable {variable['name']} is not label_values()"
        yield f"{dashboard['uid']}/${variable['name']}", f"{match[1]}{{{match[2]}=~'.+'}}"


def test_there_are_dashboards_and_their_ids_are_unique() -> None:
    names = {path.stem for path in DASHBOARDS}
    assert names >= {"overview", "bus"}
    uids = [json.loads(path.read_text())["uid"] for path in DASHBOARDS]
    assert len(uids) == len(set(uids))


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda path: path.stem)
def test_every_dashboard_query_uses_real_metrics_and_labels(path: Path) -> None:
    dashboard = json.loads(path.read_text())
    errors = [error for where, expr in dashboard_queries(dashboard) for error in check(expr, where)]
    assert errors == []
    panel_ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(panel_ids) == len(set(panel_ids))
    variables = {variable["name"] for variable in dashboard["templating"]["list"]}
    for where, expr in dashboard_queries(dashboard):
        for used in re.findall(r"\$\{?(\w+)", expr):
            assert used.startswith("__") or used in variables, f"{where}: ${used} undefined"


# --- scrape configuration and runbooks ----------------------------------------------------------


def test_the_scrape_configuration_has_a_job_per_service_and_loads_the_rules() -> None:
    document = yaml.safe_load(SCRAPE_FILE.read_text())
    assert document["rule_files"] == ["alerts.yml"]
    jobs = {job["job_name"] for job in document["scrape_configs"]}
    services = {path.parent.name for path in (REPO_ROOT / "services").glob("*/pyproject.toml")}
    assert jobs == services


def test_every_runbook_is_in_the_index_and_every_link_resolves() -> None:
    index = (RUNBOOKS / "README.md").read_text()
    runbooks = {path.name for path in RUNBOOKS.glob("*.md")} - {"README.md"}
    assert len(runbooks) >= 7
    linked = set(re.findall(r"\]\(([\w.-]+\.md)\)", index))
    assert linked == runbooks
    for path in RUNBOOKS.glob("*.md"):
        for target in re.findall(r"\]\(([^)#\s]+\.md)(?:#[^)]*)?\)", path.read_text()):
            if not target.startswith("http"):
                assert (path.parent / target).resolve().is_file(), f"{path.name}: {target}"
