"""boto3 clients built lazily, cached per execution environment and injectable.

No region or endpoint is hard-coded: boto3 reads AWS_REGION / AWS_DEFAULT_REGION and
AWS_ENDPOINT_URL, so the same code talks to moto locally and to AWS in production."""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
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


_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def _to_decimal(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: _to_decimal(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_decimal(v) for v in value]
    return value


def _from_decimal(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _from_decimal(v) for k, v in value.items()}
    if isinstance(value, (list, set)):
        return [_from_decimal(v) for v in value]
    return value


def serialize(item: dict) -> dict:
    return {k: _serializer.serialize(_to_decimal(v)) for k, v in item.items() if v is not None}


def deserialize(item: dict) -> dict:
    return {k: _from_decimal(_deserializer.deserialize(v)) for k, v in item.items()}
