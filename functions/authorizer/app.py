"""API Gateway REQUEST authorizer: an API key for the usage plans, or a verified portal token
(recengine.portal.authorizer). Every function's resolver then checks the role in the context
against the route (recengine.tenancy.roles)."""

from __future__ import annotations

import threading
from typing import Any

from recengine.portal.authorizer import Unauthorized, authorize, extract_key  # noqa: F401 - the handler's API

_verifier = None
_lock = threading.Lock()


def verifier():
    """The pool's token verifier, built on the first token; its JWKS is cached while the container lives."""
    global _verifier
    with _lock:
        if _verifier is None:
            from recengine.portal.tokens import verifier_from_settings
            from recengine.settings import settings

            _verifier = verifier_from_settings(settings())
        return _verifier


def reset_verifier() -> None:
    """Forgets the cached verifier (tests point it at another pool)."""
    global _verifier
    with _lock:
        _verifier = None


def lambda_handler(event: dict, context: Any) -> dict:
    return authorize(event, verifier)
