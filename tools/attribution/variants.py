"""Per-variant figures of experiments: each exposure is credited to the variant its customer was
assigned (assignment.v1, joined on tenant_id and user_key) when it was served at or after the
customer's first assignment, or to the variant an assignment names by its request_id. Each variant
gets lists, impressions, clicks, purchases, CTR and conversion; every other variant is compared with
the control (the variant named `control`, else the first by name) by a two-sided two-proportion
z-test on CTR and on conversion. A variant with fewer impressions than the minimum sample is flagged:
its p-values are printed but should not be acted on."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from recengine.decisioning.experiments import two_proportion_p_value

MIN_SAMPLE = 1000  # impressions per variant before a difference is worth reading
CONTROL = "control"


def _assignments(records: Iterable[Mapping[str, Any]]) -> tuple[dict, dict]:
    """(tenant, experiment, user_key) -> (first ts, variant); (tenant, request_id) -> [(experiment, variant)]."""
    by_user: dict[tuple[str, str, str], tuple[float, str]] = {}
    by_request: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
    for record in records:
        key = (record["tenant_id"], record["experiment_id"], record["user_key"])
        ts = float(record["ts"])
        if key not in by_user or ts < by_user[key][0]:
            by_user[key] = (ts, record["variant"])
        if record.get("request_id"):
            by_request[(record["tenant_id"], record["request_id"])].append((record["experiment_id"], record["variant"]))
    return by_user, by_request


def variant_report(lists: Mapping[tuple[str, str], Any], assignments: Iterable[Mapping[str, Any]],
                   min_sample: int = MIN_SAMPLE) -> tuple[list[dict[str, Any]], list[str]]:
    """(one entry per experiment with its variants and tests, warnings); `lists` maps (tenant_id,
    request_id) to the report's joined exposures (user_key, ts, items, clicked, purchased)."""
    by_user, by_request = _assignments(assignments)
    experiments = sorted({(tenant, experiment) for tenant, experiment, _ in by_user})
    counts: dict[tuple[str, str], dict[str, Counter]] = {e: defaultdict(Counter) for e in experiments}
    for (tenant, request_id), shown in lists.items():
        named = dict(by_request.get((tenant, request_id), ()))
        for experiment in (e for t, e in experiments if t == tenant):
            variant = named.get(experiment)
            if variant is None:
                first = by_user.get((tenant, experiment, shown.user_key))
                variant = first[1] if first is not None and shown.ts >= first[0] else None
            if variant is not None:
                counts[(tenant, experiment)][variant].update(
                    lists=1, impressions=len(shown.items), clicks=len(shown.clicked), purchases=len(shown.purchased))
    out, warnings = [], []
    for tenant, experiment in experiments:
        assigned = Counter(v for (t, e, _), (_, v) in by_user.items() if (t, e) == (tenant, experiment))
        variants = sorted(set(assigned) | set(counts[(tenant, experiment)]))
        control = CONTROL if CONTROL in variants else variants[0]
        base = counts[(tenant, experiment)][control]
        rows = []
        for name in variants:
            c = counts[(tenant, experiment)][name]
            row = {"variant": name, "customers": assigned[name], "lists": c["lists"], "impressions": c["impressions"],
                   "clicks": c["clicks"], "purchases": c["purchases"],
                   "ctr": c["clicks"] / c["impressions"] if c["impressions"] else None,
                   "conversion": c["purchases"] / c["impressions"] if c["impressions"] else None,
                   "control": name == control, "p_value_ctr": None, "p_value_conversion": None}
            if name != control:
                row["p_value_ctr"] = two_proportion_p_value(c["clicks"], c["impressions"], base["clicks"],
                                                            base["impressions"])
                row["p_value_conversion"] = two_proportion_p_value(c["purchases"], c["impressions"],
                                                                   base["purchases"], base["impressions"])
            if c["impressions"] < min_sample:
                warnings.append(f"experiment {experiment} variant {name}: {c['impressions']} impressions, below the "
                                f"minimum sample of {min_sample}; its differences are not conclusive")
            rows.append(row)
        out.append({"tenant_id": tenant, "experiment_id": experiment, "control": control, "variants": rows})
    return out, warnings


def _p(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def render_variants(experiments: list[dict[str, Any]], warnings: list[str]) -> list[str]:
    lines = []
    for experiment in experiments:
        lines.append(f"experiment {experiment['experiment_id']} (control: {experiment['control']})")
        lines.append(f"  {'VARIANT':<24} {'CUSTOMERS':>9} {'IMPRESSIONS':>11} {'CTR':>8} {'P(CTR)':>8} "
                     f"{'CONVERSION':>10} {'P(CONV)':>8}")
        for v in experiment["variants"]:
            ctr = "-" if v["ctr"] is None else f"{100 * v['ctr']:.2f}%"
            conversion = "-" if v["conversion"] is None else f"{100 * v['conversion']:.2f}%"
            lines.append(f"  {v['variant'][:24]:<24} {v['customers']:>9} {v['impressions']:>11} {ctr:>8} "
                         f"{_p(v['p_value_ctr']):>8} {conversion:>10} {_p(v['p_value_conversion']):>8}")
    return lines + [f"warning: {w}" for w in warnings]
