"""Offer eligibility: channels (types and specific ids), placements, the start/end window, the creative
that fits, and the caller's excludeOffers / excludeCreatives, each refusal with its stable reason."""

from __future__ import annotations

import calendar
from datetime import datetime, timezone

import pytest

from recengine.decisioning import offers as o

NOW = float(calendar.timegm((2026, 12, 3, 12, 0, 0)))
HERO_EMAIL = {"id": "c-hero-email", "channel": "email", "placement": "hero_banner", "title": "Hero"}
SIDEBAR_WEB = {"id": "c-side-web", "channel": "web", "placement": "sidebar"}
ANY_EMAIL = {"id": "c-any-email", "channel": "email"}
GENERIC = {"id": "c-generic", "title": "Anywhere"}
OFFER = {"channels": ["email", "web"], "placements": ["hero_banner", "sidebar"],
         "start_at": "2026-12-01T00:00:00Z", "end_at": "2026-12-31T00:00:00Z", "priority": 3, "value": 40.0,
         "creatives": [ANY_EMAIL, HERO_EMAIL, SIDEBAR_WEB]}


# ------------------------------------------------------------------ eligible
def test_an_item_without_decisioning_fields_is_eligible_everywhere():
    for fields in (None, {}):
        assert o.eligible(fields, "sms", "footer", NOW) == o.ELIGIBLE


def test_eligible_is_truthy_and_a_refusal_is_falsy_with_its_reason():
    assert o.eligible(OFFER, "email", "hero_banner", NOW)
    refusal = o.eligible(OFFER, "sms", "hero_banner", NOW)
    assert not refusal and refusal.reason == o.CHANNEL_MISMATCH
    assert refusal.trace == "channel_mismatch: offer runs on email, web"


@pytest.mark.parametrize("channel,ok", [("email", True), ("EMAIL", True), ("web", True), ("sms", False), (None, True)])
def test_the_request_channel_must_be_one_the_offer_declares(channel, ok):
    assert bool(o.eligible({"channels": ["email", "web"]}, channel, None, NOW)) is ok


def test_an_offer_declaring_no_channels_runs_on_any_channel():
    assert o.eligible({"placements": ["sidebar"]}, "sms", "sidebar", NOW)


@pytest.mark.parametrize("channel,channel_id,ok", [
    (None, "newsletter-weekly", True),   # the specific channel the offer names
    (None, "newsletter-daily", False),   # another specific channel
    ("email", "newsletter-daily", True),  # the type the offer names, whatever the id
    ("sms", "newsletter-weekly", True),   # the id the offer names
    ("sms", "promo-7", False),
])
def test_channel_id_matches_an_offer_that_names_that_channel(channel, channel_id, ok):
    fields = {"channels": ["email", "newsletter-weekly"]}
    assert bool(o.eligible(fields, channel, None, NOW, channel_id=channel_id)) is ok


@pytest.mark.parametrize("placement,ok", [("hero_banner", True), ("Sidebar", True), ("footer", False), (None, True)])
def test_the_request_placement_must_be_a_slot_type_the_offer_declares(placement, ok):
    verdict = o.eligible({"placements": ["hero_banner", "sidebar"]}, None, placement, NOW)
    assert bool(verdict) is ok
    if not ok:
        assert verdict.reason == o.PLACEMENT_MISMATCH and "hero_banner, sidebar" in verdict.detail


def test_channel_is_judged_before_placement():
    assert o.eligible(OFFER, "sms", "footer", NOW).reason == o.CHANNEL_MISMATCH


@pytest.mark.parametrize("when,reason", [
    ("2026-11-30T23:59:59Z", o.NOT_STARTED),
    ("2026-12-01T00:00:00Z", None),  # the start is included
    ("2026-12-30T23:59:59Z", None),
    ("2026-12-31T00:00:00Z", o.ENDED),  # the end is not
])
def test_the_window_includes_its_start_and_excludes_its_end(when, reason):
    now = datetime.fromisoformat(when)
    verdict = o.eligible(OFFER, None, None, now)
    assert verdict.reason == reason and bool(verdict) is (reason is None)


def test_now_may_be_epoch_seconds_or_a_naive_utc_datetime():
    assert o.eligible(OFFER, None, None, NOW)
    assert o.eligible(OFFER, None, None, datetime(2026, 12, 3, 12))
    assert not o.eligible(OFFER, None, None, datetime(2027, 1, 1, tzinfo=timezone.utc))


def test_an_open_ended_window_restricts_only_on_its_given_side():
    assert not o.eligible({"start_at": "2027-01-01T00:00:00+00:00"}, None, None, NOW)
    assert o.eligible({"start_at": "2026-01-01T00:00:00+00:00"}, None, None, NOW)
    assert not o.eligible({"end_at": "2026-01-01T00:00:00+00:00"}, None, None, NOW)
    assert o.eligible({"end_at": "2027-01-01T00:00:00+00:00"}, None, None, NOW)


def test_window_bounds_with_offsets_are_compared_as_instants():
    # 13:00+02:00 is 11:00 UTC: started an hour before NOW
    assert o.eligible({"start_at": "2026-12-03T13:00:00+02:00"}, None, None, NOW)
    assert not o.eligible({"start_at": "2026-12-03T13:00:00+00:00"}, None, None, NOW)


@pytest.mark.parametrize("bad", ["soon", 12345, "2026-13-01T00:00:00Z"])
def test_an_unreadable_window_bound_refuses_the_offer(bad):
    assert o.eligible({"end_at": bad}, None, None, NOW).reason == o.INVALID_WINDOW


# ------------------------------------------------------------------ pick_creative
def test_the_creative_naming_both_channel_and_placement_wins_over_a_channel_only_one():
    assert o.pick_creative(OFFER, "email", "hero_banner") == HERO_EMAIL


def test_a_channel_only_creative_serves_other_placements_of_its_channel():
    assert o.pick_creative(OFFER, "email", "sidebar") == ANY_EMAIL


def test_placement_counts_more_than_channel():
    fields = {"creatives": [{"id": "a", "channel": "web"}, {"id": "b", "placement": "sidebar"}]}
    assert o.pick_creative(fields, "web", "sidebar")["id"] == "b"


def test_the_first_listed_wins_among_equally_specific_creatives():
    fields = {"creatives": [{"id": "a", "channel": "web"}, {"id": "b", "channel": "web"}]}
    assert o.pick_creative(fields, "web", None)["id"] == "a"


def test_a_generic_creative_fits_any_request():
    assert o.pick_creative({"creatives": [GENERIC]}, "sms", "footer") == GENERIC


def test_no_creative_fits_another_channel_or_placement():
    assert o.pick_creative(OFFER, "sms", None) is None
    assert o.pick_creative(OFFER, "web", "hero_banner") is None


def test_a_request_naming_nothing_gets_the_first_creative():
    assert o.pick_creative(OFFER, None, None) == ANY_EMAIL


def test_excluded_creatives_are_skipped():
    assert o.pick_creative(OFFER, "email", "hero_banner", {"c-hero-email"}) == ANY_EMAIL
    assert o.pick_creative(OFFER, "email", "hero_banner", ["c-hero-email", "c-any-email"]) is None


def test_creative_channel_matching_is_case_insensitive():
    assert o.pick_creative(OFFER, "EMAIL", "HERO_BANNER") == HERO_EMAIL


@pytest.mark.parametrize("channel,channel_id,expected", [
    ("email", "weekly", "c-weekly"),   # the specific channel's own creative
    ("email", "daily", "c-email"),     # another specific id: never the weekly one, the type's one instead
    (None, "weekly", "c-weekly"),
    (None, "daily", None),             # a type-only creative is not known to run on channel id `daily`
    ("email", None, "c-weekly"),       # no specific id asked: the first email creative
])
def test_creatives_for_specific_channel_ids(channel, channel_id, expected):
    fields = {"creatives": [{"id": "c-weekly", "channel": "email", "channelId": "weekly"},
                            {"id": "c-email", "channel": "email"}]}
    picked = o.pick_creative(fields, channel, None, channel_id=channel_id)
    assert (picked or {}).get("id") == expected


def test_malformed_creatives_are_ignored():
    assert o.pick_creative({"creatives": "nope"}, None, None) is None
    assert o.pick_creative({"creatives": ["x", GENERIC]}, None, None) == GENERIC


# ------------------------------------------------------------------ choose (eligibility and creative together)
def test_choose_returns_the_matching_creative():
    choice = o.choose(OFFER, channel="email", placement="hero_banner", now=NOW)
    assert choice.verdict and choice.creative == HERO_EMAIL


def test_an_offer_with_creatives_and_none_that_fits_is_refused():
    fields = {"creatives": [SIDEBAR_WEB]}
    choice = o.choose(fields, channel="web", placement="hero_banner", now=NOW)
    assert choice.verdict.reason == o.NO_MATCHING_CREATIVE and choice.creative is None
    assert choice.verdict.trace == "no_matching_creative: no creative for channel=web, placement=hero_banner"


def test_an_offer_whose_every_creative_is_excluded_is_refused_even_without_channel_or_placement():
    fields = {"creatives": [GENERIC]}
    choice = o.choose(fields, channel=None, placement=None, now=NOW, exclude_creatives=["c-generic"])
    assert choice.verdict.reason == o.CREATIVES_EXCLUDED


def test_an_offer_without_creatives_is_eligible_with_no_creative():
    choice = o.choose({"channels": ["web"]}, channel="web", placement="hero_banner", now=NOW)
    assert choice.verdict and choice.creative is None


def test_eligibility_is_judged_before_creatives():
    choice = o.choose(OFFER, channel="email", placement="hero_banner", now=NOW + 86400 * 60)
    assert choice.verdict.reason == o.ENDED


# ------------------------------------------------------------------ exclusions and select
def test_exclude_offers_names_each_excluded_candidate():
    refused = o.exclude_offers(["a", "b", "c"], ["b", "z"])
    assert list(refused) == ["b"] and refused["b"].reason == o.EXCLUDED_OFFER


def test_select_keeps_order_creatives_and_reasons():
    offers = {"hero": OFFER, "web-only": {"channels": ["web"]}, "late": {"start_at": "2027-01-01T00:00:00Z"},
              "gone": OFFER}
    selection = o.select(["gone", "hero", "web-only", "late", "plain"], offers, channel="email",
                         placement="hero_banner", now=NOW, excluded_offers=["gone"])
    assert list(selection.kept) == ["hero", "plain"]
    assert selection.kept == {"hero": HERO_EMAIL, "plain": None}
    assert {k: v.reason for k, v in selection.refused.items()} == {
        "gone": o.EXCLUDED_OFFER, "web-only": o.CHANNEL_MISMATCH, "late": o.NOT_STARTED}
    assert selection.reasons()["web-only"] == "channel_mismatch: offer runs on web"


def test_select_takes_a_repeated_candidate_once():
    assert list(o.select(["a", "a"], {}, channel=None, placement=None, now=NOW).kept) == ["a"]


def test_select_applies_exclude_creatives_per_offer():
    offers = {"one": {"creatives": [GENERIC]}, "two": {"creatives": [GENERIC, {"id": "c2"}]}}
    selection = o.select(["one", "two"], offers, channel=None, placement=None, now=NOW,
                         exclude_creatives=["c-generic"])
    assert selection.kept == {"two": {"id": "c2"}}
    assert selection.refused["one"].reason == o.CREATIVES_EXCLUDED


def test_select_for_call_reads_the_requests_fields_and_the_catalogue_rows():
    from recengine.ranking.schemas import RecommendRequest

    call = RecommendRequest.model_validate({"customerId": "c1", "channel": "email", "placement": "hero_banner",
                                            "excludeOffers": ["gone"], "excludeCreatives": ["c-hero-email"],
                                            "channelId": "weekly"}).to_call()
    assert (call.channel, call.channel_id, call.placement) == ("email", "weekly", "hero_banner")
    rows = {"hero": {"item_id": "hero", "metadata": {}, "offer": OFFER}, "gone": {"item_id": "gone"},
            "plain": {"item_id": "plain", "metadata": {"offer": "not decisioning fields"}}}
    selection = o.select_for_call(call, ["gone", "hero", "plain"], rows, NOW)
    assert selection.kept == {"hero": ANY_EMAIL, "plain": None}  # the hero creative is excluded
    assert selection.refused["gone"].reason == o.EXCLUDED_OFFER
    in_footer = o.select_for_call(call, ["hero"], rows, NOW, placement="footer")
    assert in_footer.refused["hero"].reason == o.PLACEMENT_MISMATCH  # the list's placement, not the request's


# ------------------------------------------------------------------ OfferEligibility (ranking's seam)
def _row(**offer):
    return {"item_id": "x", "active": True, "metadata": {"title": "X"}, **({"offer": offer} if offer else {})}


def test_the_seam_passes_an_item_without_decisioning_fields_and_a_missing_row():
    seam = o.OfferEligibility("email", None, "hero_banner", 0.0)
    assert seam.check("plain", _row(), None) == (None, None)
    assert seam.check("unknown", None, None) == (None, None)


def test_the_seam_prefers_the_lists_own_placement_to_the_requests():
    offer = _row(placements=["sidebar"], creatives=[{"id": "side", "placement": "sidebar"}])
    seam = o.OfferEligibility(None, None, "hero_banner", 0.0)
    assert seam.check("x", offer, None)[0].startswith(o.PLACEMENT_MISMATCH)
    assert seam.check("x", offer, "sidebar") == (None, {"id": "side", "placement": "sidebar"})


def test_the_seam_refuses_with_the_reason_code_and_honours_excluded_creatives():
    offer = _row(channels=["email"], creatives=[{"id": "c1", "channel": "email"}])
    assert o.OfferEligibility("sms", None, None, 0.0).check("x", offer, None)[0].startswith(o.CHANNEL_MISMATCH)
    excluded = o.OfferEligibility("email", None, None, 0.0, frozenset({"c1"}))
    assert excluded.check("x", offer, None) == (o.CREATIVES_EXCLUDED + ": every creative of the offer is in "
                                                "excludeCreatives", None)


def test_the_seam_is_built_from_the_call():
    from recengine.ranking.query import RecommendCall

    seam = o.OfferEligibility.for_call(RecommendCall(channel="web", channel_id="web-eu", placement="hero",
                                                     exclude_creatives=["a", "b"]), 5.0)
    assert seam == o.OfferEligibility("web", "web-eu", "hero", 5.0, frozenset({"a", "b"}))
