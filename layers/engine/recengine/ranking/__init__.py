"""Ranking: recommend (rules, placements, frequency caps, debug traces, exposures) and similar items."""
