"""Offline evaluation: rating-file loaders, the holdout protocol, ranking metrics, and the
`python -m recengine.evaluation` command comparing the engine's default model with baselines."""

from .loaders import Ratings, detect_format, load_ratings, parse_ratings
from .metrics import METRICS, coverage_at_k, evaluate, ndcg_at_k, recall_at_k
from .protocol import (EvalTask, Interactions, Split, UserItemMatrix, Validation, encode, holdout_split,
                       n_holdout, positives, train_test_split, validation_split)

__all__ = ["Ratings", "detect_format", "load_ratings", "parse_ratings", "METRICS", "coverage_at_k", "evaluate",
           "ndcg_at_k", "recall_at_k", "EvalTask", "Interactions", "Split", "UserItemMatrix", "Validation",
           "encode", "holdout_split", "n_holdout", "positives", "train_test_split", "validation_split"]
