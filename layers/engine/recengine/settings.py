"""The one settings model: every variable template.yaml sets, validated once per execution
environment. The only module of the package that reads the environment; a missing or invalid
variable fails on first use with a message naming it, and no secret has a default."""

from __future__ import annotations

import math
import os
from functools import lru_cache
from typing import Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator


class SettingsError(RuntimeError):
    """The environment does not configure this function correctly (a deployment error)."""


def _env(name: str, **kwargs) -> object:
    return Field(alias=name, **kwargs)


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    # Powertools reads these itself; declared so that the template and this model cannot drift.
    service_name: str = _env("POWERTOOLS_SERVICE_NAME", default="recengine", min_length=1)
    log_level: str = _env("POWERTOOLS_LOG_LEVEL", default="INFO")
    metrics_namespace: str = _env("POWERTOOLS_METRICS_NAMESPACE", default="recengine", min_length=1)
    log_event: bool = _env("POWERTOOLS_LOGGER_LOG_EVENT", default=False)
    trace_capture_response: bool = _env("POWERTOOLS_TRACER_CAPTURE_RESPONSE", default=False)

    # State: set for every function by the template's Globals.
    items_table: str = _env("ITEMS_TABLE", min_length=1)
    interactions_table: str = _env("INTERACTIONS_TABLE", min_length=1)
    sessions_table: str = _env("SESSIONS_TABLE", min_length=1)
    exposures_table: str = _env("EXPOSURES_TABLE", min_length=1)
    models_table: str = _env("MODELS_TABLE", min_length=1)
    tenants_table: str = _env("TENANTS_TABLE", min_length=1)
    usage_table: str = _env("USAGE_TABLE", min_length=1)
    model_bucket: str = _env("MODEL_BUCKET", min_length=1)
    model_cache_dir: str = _env("MODEL_CACHE_DIR", min_length=1)
    # The Secrets Manager secret (ARN or name) holding the HMAC key of the pseudonymous user keys in
    # exposure and outcome logs: set only for the functions that pseudonymise, and granted to them
    # alone. The key itself is never in the environment, and has no default.
    pseudonym_secret_id: str | None = _env("PSEUDONYM_SECRET_ID", default=None, min_length=1)

    # Portal accounts (Cognito): the user pool, its app client, the issuer its ID tokens name and where
    # its public keys are (https in AWS; the local stack's moto server; a file in tests). Set for every
    # function by the template's Globals; read only by the authorizer and the portal's functions.
    cognito_user_pool_id: str | None = _env("COGNITO_USER_POOL_ID", default=None, min_length=1)
    cognito_client_id: str | None = _env("COGNITO_CLIENT_ID", default=None, min_length=1)
    cognito_issuer: str | None = _env("COGNITO_ISSUER", default=None, min_length=1)
    cognito_jwks_url: str | None = _env("COGNITO_JWKS_URL", default=None, min_length=1)

    # Payments (the billing function only, and only when the template's StripeSecretArn is set): the
    # Secrets Manager secret holding the Stripe secret key (never the key itself), where Stripe sends
    # the customer back from checkout and the portal, and, for the local stack and tests only, another
    # Stripe API base (the stand-in in local/stripe_standin.py). Unset secret: checkout answers 501.
    stripe_secret_id: str | None = _env("STRIPE_SECRET_ID", default=None, min_length=1)
    billing_return_url: str | None = _env("BILLING_RETURN_URL", default=None, pattern=r"^https?://\S+$")
    stripe_api_base: str | None = _env("STRIPE_API_BASE", default=None, pattern=r"^https?://\S+$")

    # Serving.
    model_refresh_s: float = _env("MODEL_REFRESH_S", default=60.0, gt=0)
    tenant_cache_s: float = _env("TENANT_CACHE_S", default=60.0, ge=0)
    # how long a container serves a tenant's decisioning objects (flows, rules...) before re-reading them
    decisioning_cache_s: float = _env("DECISIONING_CACHE_S", default=30.0, ge=0)
    request_budget_ms: int = _env("REQUEST_BUDGET_MS", default=5000, ge=10, le=29_000)
    # The model cache's budgets (every loaded version, live or pinned, of every tenant): the functions
    # serving models set them from their MemorySize and EphemeralStorage, minus room for the runtime
    # and for the one version being loaded; the defaults fit Lambda's default 512 MB of /tmp.
    model_cache_memory_mb: int = _env("MODEL_CACHE_MEMORY_MB", default=512, ge=1)
    model_cache_disk_mb: int = _env("MODEL_CACHE_DISK_MB", default=384, ge=1)

    # Training (the train function) and jobs (models, batch).
    promotion_tolerance: float = _env("PROMOTION_TOLERANCE", default=0.02, ge=0, lt=1)
    keep_model_versions: int = _env("KEEP_MODEL_VERSIONS", default=5, ge=1)
    job_timeout_s: float = _env("JOB_TIMEOUT_S", default=1200.0, gt=0)
    job_queued_timeout_s: float | None = _env("JOB_QUEUED_TIMEOUT_S", default=None, gt=0)
    # How work leaves the request: SQS queues consumed by the train and batch worker functions (in
    # AWS and in the local stack, where a worker process consumes them); `inline` in tests.
    train_launch: Literal["sqs", "inline"] = _env("TRAIN_LAUNCH", default="sqs")
    train_queue_url: str | None = _env("TRAIN_QUEUE_URL", default=None, min_length=1)
    batch_dispatch: Literal["sqs", "inline"] = _env("BATCH_DISPATCH", default="sqs")
    batch_queue_url: str | None = _env("BATCH_QUEUE_URL", default=None, min_length=1)
    # User erasures leave the request as messages to the erasure worker's queue (users.erasure).
    erasure_queue_url: str | None = _env("ERASURE_QUEUE_URL", default=None, min_length=1)
    # Tenants whose last training read more events are reported, not trained in a Lambda: about the
    # measured limit of one 15-minute, 10 GB invocation (README, "Largest tenant for one Lambda").
    max_lambda_training_events: int = _env("MAX_LAMBDA_TRAINING_EVENTS", default=5_000_000, ge=1)
    # Those tenants train on EMR Serverless instead when the deployment names the Spark application
    # (the dispatcher and the completion handler only; unset: they are reported as before): the
    # application, the job runs' execution role and EMR's execution timeout of one run; the job's code
    # is under `spark/` in the model bucket (docs/adr/0009-emr-serverless-training-data.md).
    spark_application_id: str | None = _env("SPARK_APPLICATION_ID", default=None, min_length=1)
    spark_job_role_arn: str | None = _env("SPARK_JOB_ROLE_ARN", default=None, min_length=1)
    spark_job_timeout_min: int = _env("SPARK_JOB_TIMEOUT_MIN", default=240, ge=5, le=1440)

    @field_validator("model_refresh_s", "tenant_cache_s", "decisioning_cache_s", "job_timeout_s",
                     "job_queued_timeout_s", "promotion_tolerance")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value

    @property
    def queued_timeout_s(self) -> float:
        """How long a job may wait to start: JOB_QUEUED_TIMEOUT_S, else JOB_TIMEOUT_S."""
        return self.job_queued_timeout_s if self.job_queued_timeout_s is not None else self.job_timeout_s

    def require(self, field: str, needed_by: str) -> str:
        """A variable only some functions set: its value, or a SettingsError naming it and why."""
        value = getattr(self, field)
        if value is None:
            raise SettingsError(f"{_ALIASES[field]} is not set: {needed_by} needs it")
        return value

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env
        try:
            return cls.model_validate({k: v for k, v in env.items() if k in _VARIABLES and v != ""})
        except ValidationError as exc:
            problems = [f"{e['loc'][0]}: {'missing' if e['type'] == 'missing' else e['msg']}" for e in exc.errors()]
            raise SettingsError("invalid environment: " + "; ".join(problems)) from None


_ALIASES = {name: info.alias for name, info in Settings.model_fields.items()}
_VARIABLES = frozenset(_ALIASES.values())


def variables() -> frozenset[str]:
    """Every environment variable the settings model reads (a test compares them with the template)."""
    return _VARIABLES


@lru_cache(maxsize=1)
def settings() -> Settings:
    """The process-wide settings, read on first use (never at import)."""
    return Settings.from_env()
