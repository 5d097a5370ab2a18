"""The one settings model: given an environment, when a function reads its settings, then every
variable is validated once, a missing one is named, and no secret has a default."""

from __future__ import annotations

import pytest

from recengine import settings as settings_module
from recengine.settings import Settings, SettingsError
from tests.conftest import settings_env


def test_a_complete_environment_gives_typed_settings():
    s = Settings.from_env(settings_env(MODEL_REFRESH_S="30", KEEP_MODEL_VERSIONS="3", TRAIN_LAUNCH="inline"))
    assert s.model_refresh_s == 30.0 and s.keep_model_versions == 3 and s.train_launch == "inline"
    assert s.request_budget_ms == 5000 and s.queued_timeout_s == s.job_timeout_s == 1200.0


def test_every_missing_variable_is_named_at_once():
    env = {k: v for k, v in settings_env().items() if k not in ("ITEMS_TABLE", "MODEL_BUCKET")}
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env)
    assert "ITEMS_TABLE: missing" in str(caught.value) and "MODEL_BUCKET: missing" in str(caught.value)


@pytest.mark.parametrize("name,value", [("MODEL_REFRESH_S", "soon"), ("MODEL_REFRESH_S", "nan"),
                                        ("PROMOTION_TOLERANCE", "1.5"), ("KEEP_MODEL_VERSIONS", "0"),
                                        ("TRAIN_LAUNCH", "carrier-pigeon"), ("REQUEST_BUDGET_MS", "99999"),
                                        ("SPARK_JOB_TIMEOUT_MIN", "0"), ("SPARK_JOB_TIMEOUT_MIN", "2000")])
def test_an_invalid_value_fails_loudly_with_its_name(name, value):
    with pytest.raises(SettingsError, match=name):
        Settings.from_env(settings_env(**{name: value}))


def test_the_pseudonym_key_has_no_default_and_is_never_read_from_the_environment():
    """Only the secret's id is configured (tests/unit/attribution/test_pseudonym_secret.py reads it);
    a plaintext key in the environment is neither read nor shown, and without the id nothing has a key."""
    without = {k: v for k, v in settings_env().items() if k != "PSEUDONYM_SECRET_ID"}
    s = Settings.from_env({**without, "PSEUDONYM_KEY": "a-real-secret-of-enough-length"})
    assert "PSEUDONYM_KEY" not in settings_module.variables() and "a-real-secret" not in repr(s)
    assert not any("pseudonym_key" in name for name in Settings.model_fields)
    with pytest.raises(SettingsError, match="PSEUDONYM_SECRET_ID is not set"):
        s.require("pseudonym_secret_id", "pseudonymising callers")


def test_a_variable_only_some_functions_need_is_named_when_it_is_needed():
    s = Settings.from_env(settings_env())
    with pytest.raises(SettingsError, match="TRAIN_QUEUE_URL is not set: starting a training job needs it"):
        s.require("train_queue_url", "starting a training job")
    assert Settings.from_env(settings_env(BATCH_QUEUE_URL="https://q")).require("batch_queue_url", "x") == "https://q"


def test_settings_are_read_once_per_execution_environment(monkeypatch):
    for name, value in settings_env().items():
        monkeypatch.setenv(name, value)
    settings_module.settings.cache_clear()
    first = settings_module.settings()
    monkeypatch.setenv("MODEL_REFRESH_S", "7")
    assert settings_module.settings() is first  # a warm Lambda does not re-read its environment
    settings_module.settings.cache_clear()
    assert settings_module.settings().model_refresh_s == 7.0
    settings_module.settings.cache_clear()


def test_spark_training_is_off_unless_the_application_is_named():
    """Without SPARK_APPLICATION_ID large tenants are reported as before; with it, the dispatcher
    needs the job role too, and a run's EMR timeout defaults to 4 hours."""
    from recengine.runtime import Runtime

    assert Runtime(Settings.from_env(settings_env())).spark_launcher is None
    named = Settings.from_env(settings_env(SPARK_APPLICATION_ID="00f1cb3mqpd1v925"))
    assert named.spark_job_timeout_min == 240 and named.max_lambda_training_events == 5_000_000
    with pytest.raises(SettingsError, match="SPARK_JOB_ROLE_ARN is not set: training on EMR Serverless needs it"):
        Runtime(named).spark_launcher
