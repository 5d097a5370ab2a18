"""Issue #15's scripted scenario, through HTTP only against the local stack (`make run`'s entry point):
offers for email and web with creatives per placement; `channel: email, placement: hero_banner`
answers only eligible offers, each with its matching creative; a stored propensity rule admits and
excludes as configured; a purchase through the Respond API triggers a cooldown; an A/B experiment
splits customers stably, and its assignments are in the stack's log and in the attribution report
(exported from the running stack with the attribution CLI, as an operator would)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from local.spawn import StackNotReady, running_stack
from tests.e2e.test_local_stack import ROOT, request

pytestmark = pytest.mark.slow

O1, O2, O3, O4 = "item-00001", "item-00002", "item-00003", "item-00004"  # items the demo model knows
OFFERS = [
    {"id": O1, "title": "Gold card", "category": "cards", "channels": ["email", "web"],
     "placements": ["hero_banner", "sidebar"], "priority": 40,
     "creatives": [{"id": "o1-email-hero", "channel": "email", "placement": "hero_banner", "subject": "Go gold"},
                   {"id": "o1-web-side", "channel": "web", "placement": "sidebar", "image": "gold.png"}]},
    {"id": O2, "title": "Travel insurance", "category": "insurance", "channels": ["web"], "placements": ["sidebar"],
     "priority": 30, "creatives": [{"id": "o2-web-side", "channel": "web", "placement": "sidebar"}]},
    {"id": O3, "title": "Savings account", "category": "savings", "channels": ["email"],
     "placements": ["hero_banner"], "priority": 20,
     "creatives": [{"id": "o3-email-hero", "channel": "email", "placement": "hero_banner"}]},
    {"id": O4, "title": "Personal loan", "category": "loans", "channels": ["email"], "placements": ["hero_banner"],
     "priority": 10, "creatives": [{"id": "o4-email-hero", "channel": "email", "placement": "hero_banner"}]},
]


@pytest.fixture(scope="module")
def scenario():
    """The stack, with the scenario's offers, rule, policy, flows, routing and experiment made over HTTP;
    logging at INFO, as a deployed stack does (`make run` logs warnings only), to read the assignments."""
    level = os.environ.get("LOG_LEVEL")
    os.environ["LOG_LEVEL"] = "INFO"
    try:
        with running_stack(drain=True) as stack:
            printed = re.search(r"^\s*tenant\s*:\s*(\S+)", stack.output, re.MULTILINE)  # the ready banner
            admin, tenant = stack.admin_key, {"X-Tenant-Id": printed.group(1)}
            base = stack.base_url

            def made(path, body, status=201):
                got = request("POST", f"{base}{path}", admin, body)
                assert got[0] == status, got
                return got[2]

            made("/v1/items", {"items": OFFERS}, 200)
            rule = made("/v1/decisioning/rules", {"name": "loan needs propensity", "target": {"offer_ids": [O4]},
                                                  "conditions": [{"field": "propensity", "op": "gte", "value": 0.5}],
                                                  "effect": "include"})
            policy = made("/v1/decisioning/policies", {"name": "no offer for a day after its purchase",
                                                       "kind": "cooldown", "outcome_type": "purchase", "hours": 24})
            offers = {"kind": "offers", "offer_ids": [O1, O2, O3, O4]}
            made("/v1/decisioning/flows", {"key": "email-hero", "name": "email hero", "source": offers,
                                           "rule_ids": [rule["rule_id"]], "policy_ids": [policy["policy_id"]],
                                           "ranker": "priority", "limit": 5})
            for key, ranker in (("web-a", "priority"), ("web-b", "propensity_value")):
                made("/v1/decisioning/flows", {"key": key, "name": key, "source": offers, "ranker": ranker})
            routing = {"routes": [{"flow_key": "email-hero", "channel": "email", "placement": "hero_banner"}]}
            assert request("PUT", f"{base}/v1/decisioning/routing", admin, routing)[0] == 200
            experiment = made("/v1/experiments", {"name": "web sidebar A/B", "channel": "web", "placement": "sidebar",
                                                  "variants": {"a": {"weight": 1, "flow_key": "web-a"},
                                                               "b": {"weight": 1, "flow_key": "web-b"}}})
            yield stack, base, stack.read_key or admin, stack.write_key or admin, tenant, experiment["experiment_id"]
    except StackNotReady as err:
        pytest.fail(str(err))
    finally:
        if level is None:
            os.environ.pop("LOG_LEVEL", None)
        else:
            os.environ["LOG_LEVEL"] = level


def decide(base, key, tenant, customer, **fields):
    status, _, answer = request("POST", f"{base}/api/v1/recommend", key, {"customerId": customer, "limit": 10,
                                                                          **fields}, headers=tenant)
    assert status == 200, answer
    return answer


def offered(answer):
    return {d["offerId"]: d.get("creativeId") for d in answer["decisions"]}


def test_email_hero_banner_answers_only_eligible_offers_each_with_its_creative(scenario):
    _, base, key, _, tenant, _ = scenario
    answer = decide(base, key, tenant, "cust-eligible", channel="email", placement="hero_banner",
                    attributes={"propensityScores": {O4: 0.9}})
    assert answer["decisionFlowKey"] == "email-hero"  # routed by channel and placement
    assert offered(answer) == {O1: "o1-email-hero", O3: "o3-email-hero", O4: "o4-email-hero"}  # no web-only O2
    assert [d["offerId"] for d in answer["decisions"]] == [O1, O3, O4]  # the flow ranks by priority
    assert answer["decisions"][0]["creative"]["subject"] == "Go gold"


def test_the_propensity_rule_admits_and_excludes_as_configured(scenario):
    _, base, key, _, tenant, _ = scenario
    low = decide(base, key, tenant, "cust-low", channel="email", placement="hero_banner",
                 attributes={"propensityScores": {O4: 0.2}}, debug=True)
    high = decide(base, key, tenant, "cust-high", channel="email", placement="hero_banner",
                  attributes={"propensityScores": {O4: 0.5}})
    assert O4 not in offered(low) and O4 in offered(high)
    assert O4 in json.dumps(low["debugTrace"])  # the trace says why it was left out


def test_a_purchase_through_the_respond_api_starts_the_cooldown(scenario):
    _, base, key, write_key, tenant, _ = scenario
    customer = "cust-buyer"
    first = decide(base, key, tenant, customer, channel="email", placement="hero_banner")
    assert O1 in offered(first)
    outcome = {"interactionId": first["interactionId"], "offerId": O1, "outcome": "purchase"}
    status, _, got = request("POST", f"{base}/api/v1/respond", write_key, outcome, headers=tenant)
    assert status == 201, got
    deadline, after = time.monotonic() + 15, first
    while O1 in offered(after) and time.monotonic() < deadline:  # outcomes are read back within about a second
        time.sleep(0.5)
        after = decide(base, key, tenant, customer, channel="email", placement="hero_banner")
    assert O1 not in offered(after) and O3 in offered(after)
    assert O1 in offered(decide(base, key, tenant, "cust-other", channel="email", placement="hero_banner"))


def test_the_experiment_splits_customers_stably_and_its_assignments_reach_the_log_and_the_report(
        scenario, tmp_path):
    stack, base, key, _, tenant, experiment_id = scenario
    customers = [f"cust-ab-{n:02d}" for n in range(40)]
    variants = {}
    for customer in customers:
        answer = decide(base, key, tenant, customer, channel="web", placement="sidebar")
        assert answer["experiment"]["id"] == experiment_id
        variants[customer] = answer["experiment"]["variant"]
        assert set(offered(answer)) == {O1, O2}  # both have a web sidebar creative
        assert answer["decisionFlowKey"] == {"a": "web-a", "b": "web-b"}[variants[customer]]
    assert set(variants.values()) == {"a", "b"}
    for customer in customers[:10]:  # the same customer, the same variant
        assert decide(base, key, tenant, customer, channel="web", placement="sidebar")["experiment"]["variant"] \
            == variants[customer]
    logged = [line for line in list(stack.later) if '"assignment"' in line and experiment_id in line]
    assert len(logged) >= len(customers)

    files = {name: tmp_path / f"{name}.jsonl" for name in ("exposures", "outcomes", "assignments")}
    tenant_id = tenant["X-Tenant-Id"]
    cli = [sys.executable, "-m", "tools.attribution"]
    env = {"PYTHONPATH": f"{ROOT / 'layers' / 'engine'}:{ROOT}", "PATH": "/usr/bin:/bin"}
    subprocess.run([*cli, "export", "--local", "--tenant", tenant_id, *(x for n, f in files.items()
                                                                         for x in (f"--{n}", str(f)))],
                   cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    assigned = [json.loads(line) for line in files["assignments"].read_text().splitlines()]
    ours = {a["variant"] for a in assigned if a["experiment_id"] == experiment_id}
    assert ours == {"a", "b"} and sum(a["experiment_id"] == experiment_id for a in assigned) == len(customers)
    report = subprocess.run([*cli, "report", "--json", *(x for n, f in files.items() for x in (f"--{n}", str(f)))],
                            cwd=ROOT, env=env, check=True, capture_output=True, text=True).stdout
    assert experiment_id in report and re.search(r'"variant":\s*"a"', report) and re.search(r'"variant":\s*"b"', report)
