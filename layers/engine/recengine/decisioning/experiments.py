"""Experiments, pure parts: a stable assignment of a customer to a variant (sha256 of the experiment
id and the customer key, so every process and every deploy agrees), and the two-proportion z-test
the attribution report applies to the variants."""

from __future__ import annotations

import hashlib
import math

from .model import Experiment, Variant

SCALE = float(2 ** 64)


def bucket(experiment_id: str, customer_key: str) -> float:
    """A number in [0, 1), uniform over keys and fixed for a key: never Python's salted hash()."""
    digest = hashlib.sha256(f"{experiment_id}\x00{customer_key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / SCALE


def assign(experiment: Experiment, customer_key: str) -> Variant:
    """The customer's variant: the bucket falls in the variants' cumulative weights, in name order
    (so the order variants are listed in never moves a customer)."""
    if not experiment.variants:
        raise ValueError("an experiment needs at least one variant")
    variants = sorted(experiment.variants, key=lambda v: v.name)
    total = sum(v.weight for v in variants)
    point = bucket(experiment.experiment_id, customer_key) * total
    running = 0.0
    for variant in variants:
        running += variant.weight
        if point < running:
            return variant
    return variants[-1]  # rounding at the very top of the range


def two_proportion_p_value(successes_a: int, trials_a: int, successes_b: int, trials_b: int) -> float | None:
    """Two-sided p-value of the pooled two-proportion z-test; None when a side has no trials, 1.0
    when the pooled rate is 0 or 1 (no variance: no evidence of a difference)."""
    if trials_a <= 0 or trials_b <= 0:
        return None
    pooled = (successes_a + successes_b) / (trials_a + trials_b)
    variance = pooled * (1 - pooled) * (1 / trials_a + 1 / trials_b)
    if variance <= 0:
        return 1.0
    z = (successes_a / trials_a - successes_b / trials_b) / math.sqrt(variance)
    return math.erfc(abs(z) / math.sqrt(2))
