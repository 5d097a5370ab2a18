"""AWS clients built lazily, cached per execution environment and injectable.

No region or endpoint is hard-coded: botocore reads the region and AWS_ENDPOINT_URL from the
environment, so the same code talks to moto locally and to AWS in production. The clients are
botocore's own (boto3's are the same objects, built through boto3's session): importing boto3 also
imports its transfer manager and multiprocessing, about 0.12 s of a cold start that no function
uses. botocore is imported with the first client, not with the handler: a route that never reaches
AWS (health, the price list, a request refused by validation) never pays for it."""

from __future__ import annotations

import sys
import threading
from typing import Any

_lock = threading.Lock()
_clients: dict[str, Any] = {}
RETRIES = {"mode": "standard", "max_attempts": 5}
CONNECT_TIMEOUT_S, READ_TIMEOUT_S = 2, 10
# A request issues its independent calls together (recengine.concurrency, up to 16 in flight; an
# ingest of 500 events sends 20 transactions at once): botocore's default pool of 10 connections would
# queue them behind each other, one round trip after another.
MAX_POOL_CONNECTIONS = 32


def client(service: str) -> Any:
    with _lock:
        if service not in _clients:
            import botocore.session
            from botocore.config import Config

            config = Config(retries=RETRIES, connect_timeout=CONNECT_TIMEOUT_S, read_timeout=READ_TIMEOUT_S,
                            max_pool_connections=MAX_POOL_CONNECTIONS)
            _clients[service] = botocore.session.get_session().create_client(service, config=config)
        return _clients[service]


def reset_clients() -> None:
    """Forgets cached clients (tests start each case with fresh mocks)."""
    with _lock:
        _clients.clear()


class LazyClient:
    """A client attribute of a store: the client injected at construction (kept as `_<name>`), else
    the process's shared one for `service`, built on first use (never at import)."""

    def __init__(self, service: str):
        self.service = service
        self.slot = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = f"_{name}"

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        injected = getattr(obj, self.slot, None)
        return injected if injected is not None else client(self.service)


def no_answer(exc: BaseException) -> bool:
    """An AWS call that got no answer once the SDK gave up (a read or connect timeout, a dropped
    connection): botocore's own errors, which a store may not have turned into a StoreError. It is
    a dependency failure (503, retry), never a bug. botocore is not imported for the check: if it
    was never loaded, nothing raised one of its errors."""
    exceptions = sys.modules.get("botocore.exceptions")
    return exceptions is not None and isinstance(exc, exceptions.BotoCoreError)
