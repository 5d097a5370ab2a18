"""Hand-written stand-ins shared by several test folders."""

from __future__ import annotations

from local.gateway import KeyRegistry


class StaticKeys(KeyRegistry):
    """A gateway key registry with fixed key states, instead of reading API Gateway's keys."""

    def __init__(self, states):
        super().__init__(apigw=object())
        self.states = states

    def lookup(self, value):
        return self.states.get(value)
