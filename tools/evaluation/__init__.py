"""Offline evaluation: rating-file loaders, the holdout protocol, and the `python -m tools.evaluation`
command comparing the engine's default model with baselines (metrics: recengine.engine.metrics)."""
