"""Decisioning: stored qualification rules, contact policies, guardrails, decision flows with their
routing, and experiments with their assignment log; pure evaluators beside one store and one service."""
