"""The per-user holdout rule: how many of a user's events are held out, and which ones."""

from __future__ import annotations

import numpy as np

HOLDOUT_FRACTION = 0.2
MIN_EVENTS = 5  # users with fewer events keep them all (they are not evaluated)
ORDERS = ("time", "random")
# How a random holdout is drawn from np.random.default_rng(seed). Both are kept because figures
# were measured with them (the offline test split draws "keys", tuning's validation split
# "per_user"): another draw would hold out other events and move every figure.
# - "keys": one uniform key per event, drawn for all events at once; a user's k lowest keys.
# - "per_user": for each eligible user in turn (ascending code), rng.choice(n, k, replace=False)
#   over the user's events in their given order.
DRAWS = ("keys", "per_user")


def n_holdout(n_events: np.ndarray | int, fraction: float = HOLDOUT_FRACTION,
              min_events: int = MIN_EVENTS) -> np.ndarray:
    """Held-out count per user: round(fraction * n) half up, at least 1; 0 below min_events.

    (5-7 events -> 1, 8-12 -> 2, ...). At a fraction of 0.2 no product is a half, so this is also
    Python's round-half-even, which tuning and promotion used before sharing this rule."""
    n = np.asarray(n_events, dtype=np.int64)
    k = np.maximum(1, np.floor(n * fraction + 0.5 + 1e-9).astype(np.int64))
    return np.where(n >= min_events, k, 0)


def held_out(users: np.ndarray, order: str = "time", *, timestamps: np.ndarray | None = None,
             arrival: np.ndarray | None = None, seed: int = 0, draw: str = "keys",
             fraction: float = HOLDOUT_FRACTION, min_events: int = MIN_EVENTS) -> np.ndarray:
    """Per event, whether it is held out. `users` are integer user codes (one per event); each
    user with >= min_events events holds out n_holdout of them: with order="time" the most recent
    (by `timestamps`, ties by `arrival`, default the event's position: later = more recent), with
    order="random" a seeded random choice drawn as `draw` says (see DRAWS)."""
    if order not in ORDERS:
        raise ValueError(f"unknown holdout order {order!r}")
    if draw not in DRAWS:
        raise ValueError(f"unknown holdout draw {draw!r}")
    users = np.asarray(users, dtype=np.int64)
    n = users.size
    held = np.zeros(n, dtype=bool)
    if n == 0:
        return held
    counts = np.bincount(users)
    k = n_holdout(counts, fraction, min_events)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    if order == "time":
        if timestamps is None:
            raise ValueError("a holdout by time needs timestamps")
        perm = np.lexsort((np.arange(n) if arrival is None else arrival, timestamps, users))  # per user, oldest first
        pos = np.arange(n) - starts[users[perm]]
        held[perm] = pos >= (counts - k)[users[perm]]  # the k most recent
    elif draw == "keys":
        perm = np.lexsort((np.random.default_rng(seed).random(n), users))  # per user, a random order
        pos = np.arange(n) - starts[users[perm]]
        held[perm] = pos < k[users[perm]]  # the first k of it
    else:
        perm = np.argsort(users, kind="stable")  # per user, in the given order
        rng = np.random.default_rng(seed)
        for user in np.flatnonzero(k).tolist():
            held[perm[starts[user] + rng.choice(int(counts[user]), int(k[user]), replace=False)]] = True
    return held
