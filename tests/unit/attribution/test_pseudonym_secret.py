"""The pseudonym key lives in Secrets Manager: given a function that pseudonymises, when its runtime
is built, then the key is read once (Powertools Parameters, on the project's client), a missing,
unreadable or short secret fails loudly, and nothing falls back to a key from the environment."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from recengine.attribution.records import pseudonymous_id
from recengine.attribution.secret import MIN_KEY_LENGTH, SecretStore
from recengine.errors import StoreError
from recengine.runtime import Runtime
from recengine.settings import Settings, SettingsError
from tests.conftest import settings_env

KEY = "a-generated-secret-of-enough-length-0123"


@pytest.fixture
def secret_arn():
    from recengine.aws.clients import reset_clients

    with mock_aws():
        reset_clients()
        yield boto3.client("secretsmanager").create_secret(Name="test/PseudonymSecret", SecretString=KEY)["ARN"]
        reset_clients()


def test_the_runtime_reads_the_key_from_the_secret_once_per_execution_environment(secret_arn):
    runtime = Runtime(Settings.from_env(settings_env(PSEUDONYM_SECRET_ID=secret_arn)))
    reads = []
    runtime.secrets.provider.client.meta.events.register(
        "before-parameter-build.secrets-manager.GetSecretValue", lambda **kw: reads.append(kw["params"]["SecretId"]))
    pseudonyms = runtime.pseudonyms
    assert runtime.pseudonyms is pseudonyms and runtime.secrets.pseudonym_key(secret_arn) == KEY
    assert reads == [secret_arn]  # cached: one GetSecretValue for the environment
    assert pseudonyms.user_key("acme", "u1", None) == pseudonymous_id(KEY, "acme", "user:u1")
    assert KEY not in repr(pseudonyms) and KEY not in repr(runtime.settings)


def test_the_secret_is_read_through_the_projects_client(secret_arn):
    """The shared client: the SDK's retries and timeouts, and AWS_ENDPOINT_URL (moto) honoured."""
    from recengine.aws.clients import client

    assert SecretStore().provider.client is client("secretsmanager")


def test_without_the_secret_id_a_function_that_pseudonymises_fails_naming_it(secret_arn):
    env = {k: v for k, v in settings_env().items() if k != "PSEUDONYM_SECRET_ID"}
    runtime = Runtime(Settings.from_env({**env, "PSEUDONYM_KEY": KEY}))  # a plaintext key is never a fallback
    with pytest.raises(SettingsError, match="PSEUDONYM_SECRET_ID is not set: pseudonymising callers needs it"):
        runtime.pseudonyms


def test_a_missing_or_short_secret_fails_loudly(secret_arn):
    with pytest.raises(SettingsError, match="no-such-secret.*could not be read"):
        SecretStore().pseudonym_key("no-such-secret")
    short = boto3.client("secretsmanager").create_secret(Name="short", SecretString="k" * (MIN_KEY_LENGTH - 1))["ARN"]
    with pytest.raises(SettingsError, match="at least 16 characters"):
        SecretStore().pseudonym_key(short)


@pytest.mark.parametrize("code,error", [("AccessDeniedException", SettingsError),
                                        ("ThrottlingException", StoreError), ("InternalServiceError", StoreError)])
def test_a_refused_read_is_a_deployment_error_and_a_throttled_one_retryable(code, error):
    client = boto3.client("secretsmanager", region_name="us-east-1")
    with Stubber(client) as stub:
        stub.add_client_error("get_secret_value", code, http_status_code=400)
        with pytest.raises(error, match=code):
            SecretStore(client).pseudonym_key("arn:aws:secretsmanager:us-east-1:1:secret:x")
