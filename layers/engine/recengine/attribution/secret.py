"""The deployment's pseudonym key, read from Secrets Manager through Powertools Parameters and cached
for the execution environment: never an environment variable, never a default. A function that
needs it and cannot read it fails loudly (a missing grant or secret is a deployment error)."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from ..aws.clients import client as shared_client
from ..errors import StoreError
from ..settings import SettingsError

MIN_KEY_LENGTH = 16
# One read per execution environment in practice (the runtime keeps the Pseudonyms it built); the
# provider's cache only spares a second read if something asks again within the hour.
CACHE_S = 3600
# Secrets Manager faults worth a retry (503); anything else (no such secret, access denied) is a
# deployment error.
TRANSIENT = {"ThrottlingException", "InternalServiceError", "RequestTimeout", "ServiceUnavailable"}

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider


class SecretStore:
    """Secrets Manager through Powertools' SecretsProvider, on the project's client (retries,
    timeouts, AWS_ENDPOINT_URL for moto) unless one is injected."""

    def __init__(self, secretsmanager: Any = None):
        self._client = secretsmanager

    @cached_property
    def provider(self) -> "SecretsProvider":
        # Imported here: Powertools' parameters package costs a cold import (~0.3 s) that only the
        # functions reading a secret should pay, on first use.
        from aws_lambda_powertools.utilities.parameters import SecretsProvider

        return SecretsProvider(boto3_client=self._client or shared_client("secretsmanager"))

    def pseudonym_key(self, secret_id: str) -> str:
        """The HMAC key of the pseudonyms: the secret's string, at least MIN_KEY_LENGTH long."""
        return self.secret_string(secret_id, "the pseudonym key", MIN_KEY_LENGTH)

    def secret_string(self, secret_id: str, what: str, min_length: int = 1) -> str:
        """A secret's string (e.g. the payment provider's API key): a transient read failure is a
        StoreError (503), a missing secret or grant or a value too short a SettingsError. Messages
        name the secret, never its value."""
        from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

        try:
            value = self.provider.get(secret_id, max_age=CACHE_S)
        except GetParameterError as exc:
            cause = exc.__cause__ or exc.__context__
            code = cause.response.get("Error", {}).get("Code", "Unknown") if isinstance(cause, ClientError) else None
            if code in TRANSIENT or isinstance(cause, BotoCoreError):
                raise StoreError(f"reading {what} failed ({code or type(cause).__name__})") from exc
            raise SettingsError(f"{what} secret {secret_id!r} could not be read ({code or exc})") from exc
        if not isinstance(value, str) or len(value) < min_length:
            raise SettingsError(f"{what} secret {secret_id!r} is not a string of at least {min_length} characters")
        return value
