"""Orchestration between the API edge, the pure engine and the stores: plain arguments in."""
