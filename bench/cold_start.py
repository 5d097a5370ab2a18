"""Cold start on the goodbooks sample: a seeded 10% of books lose all their interactions before
training (as if just added to the catalogue); the model is trained with the catalogue metadata
(title, authors, year, language) and must rank those cold books for the users who liked them.

    python -m bench.cold_start [--ratings PATH] [--books PATH] [--fraction 0.1] [--out JSON]

Ranking goes through the serving path: RecommenderModel.recommend with the cold books as
candidates (the user's whole training history folded in), per algorithm; a seeded random
ranking of the same candidates is the floor. It also checks that every cold book has similar
items, and how often they share an author."""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "layers" / "engine"))

from recengine.engine.metrics import ndcg_at_k, recall_at_k  # noqa: E402
from recengine.engine.training import TrainingData, train_model  # noqa: E402
from tools.evaluation.loaders import load_ratings  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "goodbooks-10k"


def load_books(path: Path) -> dict[str, dict]:
    books = {}
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            year = row.get("original_publication_year") or ""
            books[row["book_id"]] = {
                "title": row.get("title") or row.get("original_title") or "",
                "authors": row.get("authors", ""),
                "language_code": row.get("language_code", ""),
                "tags": [f"decade-{int(float(year)) // 10 * 10}"] if year.replace(".", "").lstrip("-").isdigit() else [],
            }
    return books


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ratings", type=Path, default=DATA / "ratings_users5pct.csv.gz")
    parser.add_argument("--books", type=Path, default=DATA / "books.csv")
    parser.add_argument("--fraction", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)

    ratings = load_ratings(args.ratings)
    keep = ratings.ratings >= 4
    users, items = np.asarray(ratings.users)[keep], np.asarray(ratings.items)[keep]
    catalogue_ids = np.unique(items)
    cold = set(rng.choice(catalogue_ids, int(round(args.fraction * catalogue_ids.size)), replace=False).tolist())
    is_cold = np.isin(items, list(cold))
    books = load_books(args.books)
    catalogue = {i: books.get(i, {}) for i in catalogue_ids.tolist()}
    print(f"[cold] {catalogue_ids.size} books, {len(cold)} cold; {int((~is_cold).sum())} training positives, "
          f"{int(is_cold.sum())} hidden", file=sys.stderr)

    started = time.perf_counter()
    model = train_model(TrainingData(users[~is_cold].tolist(), items[~is_cold].tolist(), np.ones(int((~is_cold).sum())),
                                     np.zeros(int((~is_cold).sum()))), "cold-bench", catalogue=catalogue,
                        seed=args.seed)
    train_s = time.perf_counter() - started
    print(f"[cold] trained in {train_s:.1f}s ({model.meta['cold_items']} cold items in the model)", file=sys.stderr)

    history: dict[str, list[str]] = {}
    relevant: dict[str, set[str]] = {}
    for u, i, c in zip(users.tolist(), items.tolist(), is_cold.tolist()):
        (relevant.setdefault(u, set()).add(i) if c else history.setdefault(u, []).append(i))
    test_users = [u for u in relevant if len(history.get(u, [])) >= 5]
    candidates = sorted(cold)
    figures: dict[str, dict] = {}
    for algorithm in ("hybrid", "content-based", "random"):
        recall, ndcg = [], []
        for u in test_users:
            if algorithm == "random":
                ranked = list(rng.permutation(candidates)[:20])
            else:
                ranked = [i for i, _ in model.recommend(history[u], [1.0] * len(history[u]), 20, candidates=candidates,
                                                        algorithm=algorithm).items]
            recall.append(recall_at_k(ranked, relevant[u], 20))
            ndcg.append(ndcg_at_k(ranked, relevant[u], 10))
        figures[algorithm] = {"recall@20": round(float(np.mean(recall)), 4), "ndcg@10": round(float(np.mean(ndcg)), 4)}

    with_similar, same_author = 0, []
    for item in candidates:
        similar = model.similar(item, 10)
        with_similar += bool(similar)
        authors = set(a.strip() for a in catalogue[item].get("authors", "").split(",") if a.strip())
        if similar and authors:
            same_author.append(np.mean([bool(authors & set(a.strip() for a in catalogue[s].get("authors", "").split(",")))
                                        for s, _ in similar]))
    result = {"dataset": args.ratings.name, "cold_items": len(cold), "test_users": len(test_users),
              "train_s": round(train_s, 1), "ranking_among_cold_items": figures,
              "cold_items_with_similar": round(with_similar / len(candidates), 4),
              "similar_same_author_share": round(float(np.mean(same_author)), 4) if same_author else None}
    print(f"\nCold start ({len(cold)} books hidden from training, {len(test_users)} users): ranking the cold books")
    print(f"{'algorithm':<15}{'recall@20':>10}{'ndcg@10':>10}")
    for name, f in figures.items():
        print(f"{name:<15}{f['recall@20']:>10.4f}{f['ndcg@10']:>10.4f}")
    print(f"cold books with similar items: {result['cold_items_with_similar']:.1%}; "
          f"share of their similar items by the same author: {result['similar_same_author_share']}")
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
