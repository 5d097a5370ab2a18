"""boto3 clients built lazily, cached per execution environment and injectable.

No region or endpoint is hard-coded: boto3 reads AWS_REGION / AWS_DEFAULT_REGION and
AWS_ENDPOINT_URL, so the same code talks to moto locally and to AWS in production."""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config

_lock = threading.Lock()
_clients: dict[str, Any] = {}
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=2, read_timeout=10)


def client(service: str) -> Any:
    with _lock:
        if service not in _clients:
            _clients[service] = boto3.session.Session().client(service, config=_CONFIG)
        return _clients[service]


def reset_clients() -> None:
    """Forgets cached clients (tests start each case with fresh mocks)."""
    with _lock:
        _clients.clear()
