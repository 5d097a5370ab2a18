"""Offline evaluation: loaders, the holdout protocol, metrics, EASE and the whole command,
all on small generated data."""

from __future__ import annotations

import gzip
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from recengine.engine.holdout import held_out, n_holdout
from recengine.engine.metrics import (METRICS, coverage_at_k, dense_ranker, evaluate, ndcg_at_k, ndcg_of_ranks,
                                      ndcg_of_scores, recall_at_k, top_k_rows)
from tools.evaluation.loaders import (CSV, GOODBOOKS, MOVIELENS_CSV, MOVIELENS_DAT, MOVIELENS_UDATA, Ratings,
                                      detect_format, load_ratings, parse_ratings)
from tools.evaluation.protocol import Validation, encode, holdout_split, positives, train_test_split, validation_split

ROOT = Path(__file__).resolve().parents[3]


# ---------------------------------------------------------------------------- loaders
GOODBOOKS_TEXT = "user_id,book_id,rating\n1,258,5\n2,4081,4\n2,260,5\n1,9296,2\n"
UDATA_TEXT = "196\t242\t3\t881250949\n186\t302\t3\t891717742\n22\t377\t1\t878887116\n"
DAT_TEXT = "1::1193::5::978300760\n1::661::3::978302109\n2::914::3::978301968\n"
MLCSV_TEXT = "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,3,4.5,964981247\n2,6,4.0,964982224\n"


def _write(path: Path, text: str, compress: bool = False) -> Path:
    path.write_bytes(gzip.compress(text.encode()) if compress else text.encode())
    return path


def test_goodbooks_csv_plain_and_gzip(tmp_path):
    for path in (_write(tmp_path / "ratings.csv", GOODBOOKS_TEXT),
                 _write(tmp_path / "ratings.csv.gz", GOODBOOKS_TEXT, compress=True)):
        r = load_ratings(path)
        assert r.format == GOODBOOKS and r.source == path.name and len(r) == 4
        assert r.users.tolist() == ["1", "2", "2", "1"]
        assert r.items.tolist() == ["258", "4081", "260", "9296"]
        assert r.ratings.dtype == np.float64 and r.ratings.tolist() == [5.0, 4.0, 5.0, 2.0]
        assert r.timestamps is None
        assert r.order.tolist() == [0, 1, 2, 3]


def test_movielens_udata(tmp_path):
    r = load_ratings(_write(tmp_path / "u.data", UDATA_TEXT))
    assert r.format == MOVIELENS_UDATA
    assert r.users.tolist() == ["196", "186", "22"] and r.items.tolist() == ["242", "302", "377"]
    assert r.ratings.tolist() == [3.0, 3.0, 1.0]
    assert r.timestamps.tolist() == [881250949.0, 891717742.0, 878887116.0]


def test_movielens_ratings_dat_gzip(tmp_path):
    r = load_ratings(_write(tmp_path / "ratings.dat.gz", DAT_TEXT, compress=True))
    assert r.format == MOVIELENS_DAT
    assert r.users.tolist() == ["1", "1", "2"] and r.items.tolist() == ["1193", "661", "914"]
    assert r.ratings.tolist() == [5.0, 3.0, 3.0] and r.timestamps[0] == 978300760.0


def test_movielens_ratings_csv(tmp_path):
    r = load_ratings(_write(tmp_path / "ratings.csv", MLCSV_TEXT))
    assert r.format == MOVIELENS_CSV
    assert r.items.tolist() == ["1", "3", "6"] and r.ratings.tolist() == [4.0, 4.5, 4.0]
    assert r.timestamps.tolist() == [964982703.0, 964981247.0, 964982224.0]


def test_format_is_detected_from_content_not_name(tmp_path):
    assert detect_format(GOODBOOKS_TEXT)[0] == GOODBOOKS
    assert detect_format(UDATA_TEXT)[0] == MOVIELENS_UDATA
    assert detect_format(DAT_TEXT)[0] == MOVIELENS_DAT
    assert detect_format(MLCSV_TEXT)[0] == MOVIELENS_CSV
    assert detect_format("1,2,4\n")[0] == CSV
    # Misleading names: a ':: file called ratings.csv, gzip content without .gz, tab data called .csv.
    assert load_ratings(_write(tmp_path / "ratings.csv", DAT_TEXT)).format == MOVIELENS_DAT
    assert load_ratings(_write(tmp_path / "plain.csv", MLCSV_TEXT, compress=True)).format == MOVIELENS_CSV
    assert load_ratings(_write(tmp_path / "x.csv", UDATA_TEXT)).format == MOVIELENS_UDATA


def test_loader_edge_cases(tmp_path):
    crlf = parse_ratings(GOODBOOKS_TEXT.replace("\n", "\r\n") + "\r\n")
    assert crlf.users.tolist() == ["1", "2", "2", "1"] and crlf.ratings.tolist() == [5.0, 4.0, 5.0, 2.0]
    headerless = parse_ratings("1,11,4,100\n2,12,3,200\n")
    assert headerless.format == CSV and headerless.timestamps.tolist() == [100.0, 200.0]
    reordered = parse_ratings('rating,book_id,user_id\n5,"b 1",7\n')
    assert reordered.users.tolist() == ["7"] and reordered.items.tolist() == ["b 1"]
    assert len(parse_ratings("user_id,book_id,rating\n")) == 0
    with pytest.raises(ValueError):
        parse_ratings("hello world\n")
    with pytest.raises(ValueError):
        parse_ratings("")


def test_loader_is_fast_on_300k_rows(tmp_path):
    rng = np.random.default_rng(0)
    n = 300_000
    rows = np.column_stack([rng.integers(1, 53_000, n), rng.integers(1, 10_000, n), rng.integers(1, 6, n)])
    text = "user_id,book_id,rating\n" + "\n".join(f"{u},{i},{r}" for u, i, r in rows.tolist()) + "\n"
    path = _write(tmp_path / "big.csv.gz", text, compress=True)
    started = time.perf_counter()
    r = load_ratings(path)
    assert time.perf_counter() - started < 2.0
    assert len(r) == n and r.items[-1] == str(rows[-1, 1]) and r.ratings[-1] == rows[-1, 2]


# ---------------------------------------------------------------------------- protocol
def _ratings(rows, timestamps=True) -> Ratings:
    """rows: (user, item, rating, ts) tuples in file order."""
    users, items, ratings, ts = zip(*rows)
    return Ratings(np.array(users, dtype=str), np.array(items, dtype=str), np.array(ratings, dtype=float),
                   np.array(ts, dtype=float) if timestamps else None, np.arange(len(rows)), "test")


def test_n_holdout_rounds_half_up_with_at_least_one():
    n = np.array([0, 1, 4, 5, 6, 7, 8, 12, 13, 15, 100])
    assert n_holdout(n).tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 3, 3, 20]


def test_split_holds_out_the_most_recent_positives():
    rows = [("a", f"i{j}", 5.0, 1000 - j) for j in range(10)]  # newest first in the file: i0, i1 are newest
    rows += [("a", "neg1", 2.0, 5000), ("a", "neg2", 3.0, 5001)]  # negatives, newest of all: dropped
    rows += [("b", f"i{j}", 4.0, j) for j in range(4)]  # 4 positives: all in train
    rows += [("c", f"i{j}", 4.0, 7) for j in range(5)]  # equal times: the last in the file is the newest
    split = train_test_split(_ratings(rows), seed=0)
    test = sorted(zip(split.test.users.tolist(), split.test.items.tolist()))
    assert test == [("a", "i0"), ("a", "i1"), ("c", "i4")]
    assert "b" not in split.test.users and (split.train.users == "b").sum() == 4
    assert not {"neg1", "neg2"} & set(split.train.items.tolist())
    assert len(split.train) == 8 + 4 + 4 and split.test_users == 2
    assert np.all(split.train.weights == 1.0)


def test_split_without_timestamps_is_seeded_random_and_deterministic():
    rng = np.random.default_rng(1)
    rows = [(f"u{u}", f"i{i}", 5.0, 0) for u in range(40) for i in rng.choice(200, size=rng.integers(1, 30),
                                                                           replace=False)]
    ratings = _ratings(rows, timestamps=False)
    a, b, c = (train_test_split(ratings, seed=s) for s in (0, 0, 1))
    assert np.array_equal(a.test.items, b.test.items) and np.array_equal(a.test.users, b.test.users)
    assert not (np.array_equal(a.test.items, c.test.items) and np.array_equal(a.test.users, c.test.users))
    pos = positives(ratings)
    users, counts = np.unique(pos.users, return_counts=True)
    for user, count in zip(users, counts):
        n_test = int((a.test.users == user).sum())
        assert n_test == n_holdout(count)
        assert n_test + int((a.train.users == user).sum()) == count
    pairs = lambda s: set(zip(s.users.tolist(), s.items.tolist()))  # noqa: E731
    assert not pairs(a.train) & pairs(a.test)
    assert pairs(a.train) | pairs(a.test) == pairs(pos)
    # Not always the last rows of a user: the draw is random, not file order.
    last_rows = {u: set(pos.order[pos.users == u][-n_holdout(n):]) for u, n in zip(users, counts) if n >= 5}
    assert any(set(a.test.order[a.test.users == u]) != last for u, last in last_rows.items())


def test_one_holdout_rule_serves_the_protocol_tuning_and_promotion():
    from recengine.engine.sparse import CSR
    from recengine.engine.training import TrainingData
    from recengine.engine.tuning import holdout
    from recengine.models.evaluation import split_holdout

    rng = np.random.default_rng(5)
    users = np.repeat(np.arange(30), rng.integers(1, 25, 30))
    want = n_holdout(np.bincount(users))
    for order, draw in (("time", "keys"), ("random", "keys"), ("random", "per_user")):
        held = held_out(users, order, timestamps=rng.random(users.size), seed=1, draw=draw)
        assert np.bincount(users[held], minlength=30).tolist() == want.tolist(), (order, draw)
    items = np.concatenate([rng.choice(100, n, replace=False) for n in np.bincount(users)])
    _, hidden = holdout(CSR.from_coo(users, items, np.ones(users.size), (30, 100)))
    assert {u: v.size for u, v in hidden.items()} == {u: int(k) for u, k in enumerate(want) if k}
    data = TrainingData([f"u{u:02d}" for u in users], [f"i{i}" for i in items], np.ones(users.size),
                        np.arange(users.size, dtype=float))
    assert split_holdout(data).held_events == int(want.sum())
    with pytest.raises(ValueError):
        held_out(users, "alphabetical")


def test_positives_dedupe_and_rating_weights():
    rows = [("a", "x", 4.0, 1), ("a", "x", 5.0, 2), ("a", "y", 3.0, 3), ("a", "z", 5.0, 4)]
    binary = positives(_ratings(rows))
    assert binary.items.tolist() == ["x", "z"] and binary.weights.tolist() == [1.0, 1.0]
    assert binary.order.tolist() == [1, 3]  # the latest row of a repeated pair is kept
    weighted = positives(_ratings(rows), weighting="rating")
    assert weighted.weights.tolist() == [2.0, 2.0]


def test_validation_split_cuts_from_train_with_the_same_rule():
    rows = [(f"u{u}", f"i{i}", 5.0, i) for u in range(6) for i in range(u * 3, u * 3 + 4 + u * 2)]
    split = train_test_split(_ratings(rows))
    val = validation_split(split.train, seed=0)
    assert len(val.train) + len(val.test) == len(split.train)
    test_pairs = set(zip(split.test.users.tolist(), split.test.items.tolist()))
    assert not test_pairs & set(zip(val.test.users.tolist(), val.test.items.tolist()))
    assert not test_pairs & set(zip(val.train.users.tolist(), val.train.items.tolist()))
    assert val.test.items.tolist() == holdout_split(split.train).test.items.tolist()
    # Encoded with the test task's codes, so tuned parameters transfer.
    task = encode(split)
    vt = Validation.from_task(task).task
    assert vt.item_ids is task.item_ids and vt.user_ids is task.user_ids
    assert vt.train.nnz == len(val.train)


# ---------------------------------------------------------------------------- metrics
def test_metrics_on_a_hand_computed_example():
    ranked, relevant = ["a", "b", "c", "d"], {"b", "d", "x"}
    assert recall_at_k(ranked, relevant, 1) == 0.0
    assert recall_at_k(ranked, relevant, 2) == 0.5  # 1 hit / min(2, 3)
    assert recall_at_k(ranked, relevant, 4) == pytest.approx(2 / 3)
    assert recall_at_k(["b"], {"b"}, 20) == 1.0  # min(k, |test|) = 1
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    assert ndcg_at_k(ranked, relevant, 4) == pytest.approx(dcg / (1 + 1 / math.log2(3) + 1 / math.log2(4)))
    assert ndcg_at_k(ranked, relevant, 2) == pytest.approx((1 / math.log2(3)) / (1 + 1 / math.log2(3)))
    assert ndcg_at_k(["b", "d"], {"b", "d"}, 10) == pytest.approx(1.0)
    assert coverage_at_k([[0, 1, 2], [1, 2, 3]], 10, k=2) == pytest.approx(0.3)
    # The same NDCG from a score vector (seen items skipped) and, for one relevant item, from its rank.
    scores = np.array([0.1, 0.9, 0.5, 0.7, 0.3, 0.8])  # ranks items 1, 5, 3, 2, 4, 0
    assert ndcg_of_scores(scores, np.array([5]), np.array([3, 0]), k=4) == pytest.approx(
        ndcg_at_k([1, 3, 2, 4], {3, 0}, 4))
    assert ndcg_of_ranks([0, 1, 3, 4, 12], k=4).tolist() == pytest.approx([1, 1 / math.log2(3), 1 / math.log2(5), 0, 0])


def test_batch_evaluation_matches_the_definitions():
    rng = np.random.default_rng(3)
    n_items, n_users = 150, 37
    top = np.array([rng.permutation(n_items)[:100] for _ in range(n_users)])
    top[0, 60:] = -1  # a short list
    tests = [np.sort(rng.choice(np.arange(-1, n_items), size=rng.integers(1, 40), replace=False))
             for _ in range(n_users)]
    users = np.arange(n_users)
    got = evaluate(lambda u, k: top[u, :k], users, tests, n_items, batch=8)
    lists = [[i for i in row if i >= 0] for row in top]
    want = {
        "recall@20": np.mean([recall_at_k(lst, t.tolist(), 20) for lst, t in zip(lists, tests)]),
        "ndcg@10": np.mean([ndcg_at_k(lst, t.tolist(), 10) for lst, t in zip(lists, tests)]),
        "ndcg@100": np.mean([ndcg_at_k(lst, t.tolist(), 100) for lst, t in zip(lists, tests)]),
        "coverage@20": coverage_at_k(lists, n_items, 20),
    }
    assert set(got) == set(METRICS)
    for name in METRICS:
        assert got[name] == pytest.approx(want[name])


def test_top_k_rows_and_dense_ranker_exclude_seen_items():
    scores = np.array([[0.1, 0.9, -np.inf, 0.5], [3.0, 2.0, 1.0, 0.0]])
    assert top_k_rows(scores, 5).tolist() == [[1, 3, 0, -1, -1], [0, 1, 2, 3, -1]]
    from tools.evaluation.protocol import UserItemMatrix

    train = UserItemMatrix.from_coo(np.array([0, 1, 1]), np.array([1, 0, 3]), np.ones(3), (2, 4))
    rank = dense_ranker(lambda u: np.tile(np.array([4.0, 3.0, 2.0, 1.0]), (u.size, 1)), train)
    assert rank(np.array([0, 1]), 3).tolist() == [[0, 2, 3], [1, 2, -1]]


# ---------------------------------------------------------------------------- EASE
def _direct_ease(x: np.ndarray, lam: float) -> np.ndarray:
    p = np.linalg.inv(x.T @ x + lam * np.eye(x.shape[1]))
    b = np.eye(x.shape[1]) - p @ np.diag(1.0 / np.diag(p))
    return b


@pytest.mark.parametrize("numpy_only", [False, True])
def test_ease_closed_form_matches_a_direct_computation(monkeypatch, numpy_only):
    from bench.baselines import ease_weights, gram_matrix
    from tools.evaluation.protocol import UserItemMatrix

    if numpy_only:  # no scipy: the np.linalg.inv path
        monkeypatch.setitem(sys.modules, "scipy.linalg", None)
    rng = np.random.default_rng(0)
    x = (rng.random((30, 12)) < 0.3).astype(float)
    rows, cols = np.nonzero(x)
    matrix = UserItemMatrix.from_coo(rows, cols, x[rows, cols], x.shape)
    g = gram_matrix(matrix, np.float64, chunk=7)
    assert np.allclose(g, x.T @ x)
    for lam in (0.5, 5.0):
        b = ease_weights(g, lam)
        assert np.allclose(b, _direct_ease(x, lam), atol=1e-10)
        assert np.allclose(np.diag(b), 0.0)
    b32 = ease_weights(g.astype(np.float32), 5.0)
    assert b32.dtype == np.float32 and np.allclose(b32, _direct_ease(x, 5.0), atol=1e-4)


# ---------------------------------------------------------------------------- the command
def _generated_ratings(path: Path, n_users: int = 90, n_items: int = 60, seed: int = 0) -> Path:
    """Two taste groups: users rate their group's items 4-5 and a few others 1-3 (goodbooks format)."""
    rng = np.random.default_rng(seed)
    lines = ["user_id,book_id,rating"]
    for u in range(1, n_users + 1):
        group = u % 2
        liked = rng.choice(np.arange(group, n_items, 2), size=rng.integers(3, 16), replace=False)
        other = rng.choice(np.arange(1 - group, n_items, 2), size=3, replace=False)
        rows = [(i, int(rng.integers(4, 6))) for i in liked] + [(i, int(rng.integers(1, 4))) for i in other]
        for k in rng.permutation(len(rows)):
            lines.append(f"{u},{rows[k][0] + 1},{rows[k][1]}")
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    return path


def test_models_never_recommend_training_items(tmp_path):
    from tools.evaluation.__main__ import build_models

    task = encode(train_test_split(load_ratings(_generated_ratings(tmp_path / "r.csv.gz")), seed=0))
    validation = Validation.from_task(task)
    for model in build_models(["popularity", "ease", "default"], seed=0):
        model.fit(task, validation)
        top = model.rank(task.test_users, 20)
        assert top.shape == (task.test_users.size, 20)
        for row, u in zip(top, task.test_users):
            seen = set(task.train.row(u)[0].tolist())
            assert not seen & set(row[row >= 0].tolist())


def test_evaluation_command_end_to_end(tmp_path):
    data = _generated_ratings(tmp_path / "tiny_ratings.csv.gz")
    out = tmp_path / "out" / "eval.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "layers" / "engine"), str(ROOT)])}
    proc = subprocess.run([sys.executable, "-m", "tools.evaluation", "--data", str(data), "--out", str(out),
                           "--models", "popularity,ease,default", "--seed", "0"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    assert set(result) == {"dataset", "split", "default_model", "models", "targets"}
    assert result["dataset"] == "tiny_ratings.csv.gz"
    assert set(result["split"]) == {"users", "items", "train_interactions", "test_interactions", "test_users", "seed"}
    assert result["split"]["users"] == 90 and result["split"]["seed"] == 0 and result["split"]["test_users"] > 0
    default = result["default_model"]  # the engine's meta["algorithm"], e.g. "als"
    assert isinstance(default, str) and default and default not in ("popularity", "ease")
    assert set(result["models"]) == {"popularity", "ease", default}
    for figures in result["models"].values():
        assert set(figures) == {"recall@20", "ndcg@10", "ndcg@100", "coverage@20", "train_s", "peak_mb"}
        assert all(0.0 <= figures[m] <= 1.0 for m in METRICS)
        assert figures["train_s"] >= 0 and figures["peak_mb"] >= 0
    assert result["targets"] == {"ndcg@10": 0.325, "recall@20": 0.27}
    # The two taste groups are learnable: EASE beats popularity.
    assert result["models"]["ease"]["ndcg@10"] > result["models"]["popularity"]["ndcg@10"]
    assert f"default ({default})" in proc.stdout and ("PASS" in proc.stdout or "MISS" in proc.stdout)
    assert "split:" in proc.stderr and "ease lambda=" in proc.stderr and "ranked" in proc.stderr


def test_the_evaluation_tool_imports_bench_code_only_for_the_baselines():
    code = ("import sys, tools.evaluation, tools.evaluation.__main__; "
            "sys.exit(any(m == 'bench' or m.startswith('bench.') for m in sys.modules))")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "layers" / "engine"), str(ROOT)])}
    assert subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT / "layers").returncode == 0
