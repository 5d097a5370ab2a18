"""Models: training, evaluation, the registry and promotion, jobs, artefacts, the serving cache."""
