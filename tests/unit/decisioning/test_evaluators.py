"""Decisioning's pure evaluators: qualification rules (propensity admits and excludes), contact
policies (per-window caps, cooldown after a purchase, daily maximum), guardrails, flow ranking and
routing, stable experiment assignment and the two-proportion z-test."""

from __future__ import annotations

import calendar
import math

import pytest

from recengine.decisioning.contact_policy import EVERY_OFFER, blocked, lookback_s
from recengine.decisioning.experiments import assign, bucket, two_proportion_p_value
from recengine.decisioning.flows import match_route, rank
from recengine.decisioning.guardrails import cap_per_category
from recengine.decisioning.model import (ContactPolicy, Experiment, Flow, QualificationRule, Route, Target, Variant,
                                         decode_rule, encode)
from recengine.decisioning.qualification import qualify
from recengine.ranking.rules import Condition, Rule

OFFERS = {"card": {"category": "credit", "value": 50}, "loan": {"category": "credit", "value": 200},
          "saver": {"category": "savings", "value": 10}}
NOW = float(calendar.timegm((2026, 12, 3, 12, 0, 0)))
HOUR = 3600.0


def rule(rule_id="r1", effect="include", priority=0, offer_ids=(), categories=(), conditions=(), enabled=True):
    return QualificationRule(rule_id, f"rule {rule_id}", Target(tuple(offer_ids), tuple(categories)),
                             tuple(conditions), effect, priority, enabled)


# ------------------------------------------------------------------ qualification
def test_a_propensity_rule_admits_an_offer_above_its_threshold():
    r = rule(offer_ids=["loan"], conditions=[Rule("propensity", "gte", 0.5)])
    result = qualify([r], OFFERS, [], {"propensityScores": {"loan": 0.7}})
    assert result.admitted == ["card", "loan", "saver"] and result.excluded == {}


def test_a_propensity_rule_excludes_an_offer_below_its_threshold_or_without_a_score():
    r = rule(offer_ids=["loan"], conditions=[Rule("propensity", "gte", 0.5)])
    low = qualify([r], OFFERS, [], {"propensityScores": {"loan": 0.3}})
    assert low.admitted == ["card", "saver"] and "not qualified by rule r1" in low.excluded["loan"]
    assert "loan" in qualify([r], OFFERS, [], {}).excluded


def test_the_propensity_of_a_category_stands_in_for_the_offer():
    r = rule(categories=["credit"], conditions=[Rule("propensity", "gt", 0.5)])
    result = qualify([r], OFFERS, [], {"propensityScores": {"credit": 0.9, "card": 0.1}})
    assert result.admitted == ["loan", "saver"] and list(result.excluded) == ["card"]


def test_an_exclude_rule_on_segments_and_a_higher_priority_include_overrides_it():
    churned = rule("r-ex", "exclude", 0, categories=["credit"], conditions=[Rule("segments", "in", ["churned"])])
    vip = rule("r-vip", "include", 10, offer_ids=["card"], conditions=[Rule("segments", "in", ["vip"])])
    result = qualify([churned, vip], OFFERS, ["churned", "vip"], {})
    assert result.admitted == ["card", "saver"] and "excluded by rule r-ex" in result.excluded["loan"]
    assert qualify([churned, vip], OFFERS, ["vip"], {}).admitted == ["card", "loan", "saver"]


def test_conditions_read_attributes_and_item_fields_and_disabled_rules_do_nothing():
    r = rule(effect="exclude", conditions=[Rule("attributes.country", "eq", "DE"), Rule("value", "gt", 20)])
    assert sorted(qualify([r], OFFERS, [], {"country": "de"}).excluded) == ["card", "loan"]
    assert qualify([r], OFFERS, [], {"country": "fr"}).excluded == {}
    off = rule(effect="exclude", enabled=False)
    assert qualify([off], OFFERS).excluded == {}


def test_a_rule_with_a_when_condition_applies_only_to_matching_requests():
    r = rule(effect="exclude", offer_ids=["saver"],
             conditions=[Rule("value", "lt", 100, when=Condition(attribute="tier", equals="gold"))])
    assert list(qualify([r], OFFERS, [], {"tier": "gold"}).excluded) == ["saver"]
    assert qualify([r], OFFERS, [], {"tier": "silver"}).excluded == {}  # its `when` does not hold: not applied


def test_a_rule_round_trips_through_its_stored_form():
    r = rule(offer_ids=["a"], conditions=[Rule("x", "in", ["1"], when=Condition(segments=["s"]))])
    assert decode_rule(encode(r)) == r


# ------------------------------------------------------------------ contact policies
def exposure(ts, *ids, placement="hero", channel="email"):
    return {"ts": ts, "items": [{"id": i, "position": n + 1, "score": 1.0} for n, i in enumerate(ids)],
            "placement": placement, "surface": placement, "channel": channel}


def test_a_frequency_cap_blocks_an_offer_shown_max_times_within_the_window_only():
    cap = ContactPolicy("p1", "twice a day", "frequency_cap", max_impressions=2, window_hours=24)
    shown = [exposure(NOW - 2 * HOUR, "card", "loan"), exposure(NOW - 1 * HOUR, "card"),
             exposure(NOW - 30 * HOUR, "loan")]
    out = blocked([cap], shown, [], NOW)
    assert list(out) == ["card"] and "shown 2 times" in out["card"]


def test_a_cap_per_placement_or_channel_counts_only_exposures_there():
    per_placement = ContactPolicy("p2", "hero", "frequency_cap", max_impressions=1, window_hours=24, scope="placement")
    shown = [exposure(NOW - HOUR, "card", placement="sidebar")]
    assert blocked([per_placement], shown, [], NOW, "email", "hero") == {}
    assert list(blocked([per_placement], shown, [], NOW, "email", "sidebar")) == ["card"]
    per_channel = ContactPolicy("p3", "sms", "frequency_cap", max_impressions=1, window_hours=24, scope="channel")
    assert blocked([per_channel], shown, [], NOW, "sms", "hero") == {}
    assert list(blocked([per_channel], shown, [], NOW, "email", "hero")) == ["card"]


def test_a_policy_restricted_to_a_channel_binds_only_there():
    cap = ContactPolicy("p4", "email only", "frequency_cap", max_impressions=1, window_hours=24, channel="email")
    shown = [exposure(NOW - HOUR, "card")]
    assert blocked([cap], shown, [], NOW, "web") == {} and "card" in blocked([cap], shown, [], NOW, "email")


def test_a_purchase_starts_a_cooldown_for_that_offer_for_n_hours():
    cooldown = ContactPolicy("p5", "after purchase", "cooldown", outcome_type="purchase", hours=72)
    outcomes = [{"item_id": "loan", "type": "purchase", "ts": NOW - 10 * HOUR},
                {"item_id": "card", "type": "click", "ts": NOW - HOUR},
                {"item_id": "saver", "type": "purchase", "ts": NOW - 80 * HOUR}]
    out = blocked([cooldown], [], outcomes, NOW)
    assert list(out) == ["loan"] and "cooling down for 72 h after a purchase" in out["loan"]


def test_a_cooldown_on_every_offer_blocks_all_candidates():
    cooldown = ContactPolicy("p6", "pause", "cooldown", outcome_type="purchase", hours=24, same_offer=False)
    out = blocked([cooldown], [], [{"item_id": "loan", "type": "purchase", "ts": NOW - HOUR}], NOW,
                  candidates=["card", "saver"])
    assert set(out) == {EVERY_OFFER, "card", "saver"}


def test_the_daily_maximum_counts_todays_impressions_across_offers():
    daily = ContactPolicy("p7", "five a day", "daily_max", max_impressions=3)
    today = [exposure(NOW - HOUR, "card", "loan"), exposure(NOW - 2 * HOUR, "saver")]
    assert set(blocked([daily], today, [], NOW, candidates=["x"])) == {EVERY_OFFER, "x"}
    yesterday = [exposure(NOW - 13 * HOUR, "card", "loan", "saver")]  # 23:00 the day before
    assert blocked([daily], yesterday + today[:1], [], NOW) == {}
    assert lookback_s([daily], NOW) == 12 * HOUR


# ------------------------------------------------------------------ guardrails and flows
def test_at_most_n_offers_per_category_keeps_the_ranking_order():
    items = {"a": {"category": "x"}, "b": {"category": "X"}, "c": {"category": "y"}, "d": {}, "e": {"category": "x"}}
    kept, dropped = cap_per_category(["a", "b", "c", "d", "e"], items, 1)
    assert kept == ["a", "c", "d"] and set(dropped) == {"b", "e"}
    assert cap_per_category(["a", "b"], items, None) == (["a", "b"], {})


def test_a_flow_ranks_by_propensity_times_value_for_next_best_action():
    flow = Flow("nba", "next best action", ranker="propensity_value", limit=2)
    scores = {"card": 0.9, "loan": 0.2, "saver": 0.8}
    ranked = rank(flow, scores, OFFERS, {"propensityScores": {"card": 0.5, "loan": 0.3}})
    # card 0.5*50=25, loan 0.3*200=60, saver (model score 0.8)*10=8
    assert [(r.offer_id, r.score) for r in ranked] == [("loan", pytest.approx(60.0)), ("card", pytest.approx(25.0))]


def test_a_flow_ranks_by_priority_then_model_score_and_applies_its_guardrail():
    items = {"a": {"priority": 1, "category": "x"}, "b": {"priority": 5, "category": "x"}, "c": {"category": "y"},
             "d": {"priority": 1, "category": "z"}}
    flow = Flow("p", "priority", ranker="priority", max_per_category=1, limit=10)
    ranked = rank(flow, {"a": 0.9, "b": 0.1, "c": 0.99, "d": 0.95}, items)
    assert [r.offer_id for r in ranked] == ["b", "d", "c"]
    assert [r.offer_id for r in rank(Flow("m", "model", limit=2), {"a": 0.9, "b": 0.1, "c": 0.99}, items)] == ["c", "a"]


def test_routing_picks_the_most_specific_rule():
    routes = [Route("default"), Route("email", channel="email"), Route("hero", placement="hero_banner"),
              Route("email-hero", channel="email", placement="hero_banner")]
    assert match_route(routes, "email", "hero_banner").flow_key == "email-hero"
    assert match_route(routes, "web", "hero_banner").flow_key == "hero"
    assert match_route(routes, "EMAIL", "sidebar").flow_key == "email"
    assert match_route(routes, None, None).flow_key == "default"
    assert match_route(routes[1:2], "web", None) is None


# ------------------------------------------------------------------ experiments
AB = Experiment("exp-1", "A/B", (Variant("control", 50, flow_key="a"), Variant("treatment", 50, flow_key="b")))


def test_the_same_key_always_gets_the_same_variant():
    assert {assign(AB, "p_customer").name for _ in range(5)} == {assign(AB, "p_customer").name}
    assert bucket("exp-1", "k") == bucket("exp-1", "k") != bucket("exp-2", "k")


@pytest.mark.parametrize("weights", [(50, 50), (90, 10), (1, 1, 2)])
def test_splits_follow_the_weights_within_tolerance_over_10k_keys(weights):
    experiment = Experiment("exp-split", "split", tuple(Variant(f"v{i}", w) for i, w in enumerate(weights)))
    counts = {v.name: 0 for v in experiment.variants}
    for n in range(10_000):
        counts[assign(experiment, f"customer-{n}").name] += 1
    for variant in experiment.variants:
        expected = variant.weight / sum(weights)
        assert abs(counts[variant.name] / 10_000 - expected) < 0.02, counts


def test_the_z_test_matches_a_hand_computed_value():
    # 120/1000 vs 90/1000: pooled 0.105, se = sqrt(0.105*0.895*(2/1000)) = 0.013709, z = 0.03/0.013709 = 2.1884,
    # two-sided p = erfc(2.1884/sqrt 2) = 0.028642
    assert two_proportion_p_value(120, 1000, 90, 1000) == pytest.approx(0.028642, abs=1e-5)
    assert two_proportion_p_value(0, 10, 0, 10) == 1.0
    assert two_proportion_p_value(1, 0, 1, 10) is None
    assert math.isclose(two_proportion_p_value(50, 100, 50, 100), 1.0)


# ------------------------------------------------------------------ the whole flow
def test_decide_applies_rules_then_policies_then_ranker_and_guardrail_and_says_why():
    from recengine.decisioning.pipeline import decide

    items = {**OFFERS, "gold": {"category": "credit", "value": 500}}
    flow = Flow("nba", "nba", ranker="propensity_value", max_per_category=1, limit=5)
    propensity_rule = rule("r-gold", offer_ids=["gold"], conditions=[Rule("propensity", "gte", 0.5)])
    cooldown = ContactPolicy("p-buy", "after purchase", "cooldown", outcome_type="purchase", hours=72)
    decision = decide(flow, [propensity_rule], [cooldown], {"card": 0.9, "loan": 0.5, "saver": 0.4, "gold": 0.9},
                      items, attributes={"propensityScores": {"gold": 0.2, "loan": 0.6}},
                      outcomes=[{"item_id": "card", "type": "purchase", "ts": NOW - HOUR}], now=NOW)
    assert [r.offer_id for r in decision.ranked] == ["loan", "saver"]  # loan 120 beats card (blocked), gold (rule)
    assert list(decision.qualification) == ["gold"] and list(decision.contact_policy) == ["card"]
    assert decision.guardrails == {}
    more = decide(flow, [], [], {"card": 0.9, "loan": 0.5}, items, now=NOW)
    assert [r.offer_id for r in more.ranked] == ["loan"] and list(more.guardrails) == ["card"]
