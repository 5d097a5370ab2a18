"""The stores, caches and launchers one execution environment needs, wired from the settings on
first use and reused while the Lambda is warm. The only module that knows every domain."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from .analytics.counters import DailyCounterStore
from .attribution.service import Pseudonyms
from .attribution.store import ExposureStore
from .billing.metering import CountLimit, item_limit, user_limit
from .billing.store import UsageStore
from .catalogue.store import ItemStore
from .events.service import IngestDeps
from .events.store import InteractionStore
from .events.users import SeenUserStore
from .models.artefacts import ArtefactStore
from .models.job_status import JobTimeouts
from .models.job_store import JobStore
from .models.markers import TrainedMarkerStore
from .models.registry import ModelRegistry
from .ranking.stored_lists import PrecomputedListStore
from .settings import Settings, settings
from .tenancy.keys import ApiKeyStore
from .tenancy.model import Tenant
from .tenancy.store import TenantStore

if TYPE_CHECKING:
    from .analytics.service import AnalyticsDeps
    from .http.app import Api
    from .attribution.secret import SecretStore
    from .batch.service import Dispatcher
    from .batch.store import NightlySettingStore
    from .decisioning.serving import DecisioningDeps
    from .billing.payments import PaymentProvider
    from .decisioning.store import AssignmentStore, DecisioningStore
    from .models.jobs import Launcher
    from .models.spark_runs import SparkRunStore
    from .models.spark_training import SparkLauncher
    from .models.serving import ModelCache, PopularityCache
    from .models.training import TrainingPolicy, TrainingStores
    from .ranking.serve import Deps
    from .ranking.service import RecommendDeps
    from .ranking.similar import SimilarDeps
    from .tenancy.service import TenantResolver
    from .portal.accounts import CognitoAccounts
    from .portal.end_users import EndUserStore
    from .portal.tokens import TokenVerifier
    from .users.erasure import ErasureStores, Launcher as ErasureLauncher


@dataclass
class Runtime:
    settings: Settings
    # The Stripe SDK client, when injected (e.g. one with other HTTP settings); else the provider builds
    # its own on first use from the key in Secrets Manager.
    stripe_client: Any = None

    # ------------------------------------------------------------------ stores
    @cached_property
    def tenants(self) -> TenantStore:
        return TenantStore(self.settings.tenants_table)

    @cached_property
    def api_keys(self) -> ApiKeyStore:
        return ApiKeyStore(self.settings.tenants_table)

    @cached_property
    def items(self) -> ItemStore:
        return ItemStore(self.settings.items_table)

    @cached_property
    def interactions(self) -> InteractionStore:
        return InteractionStore(self.settings.interactions_table, self.settings.sessions_table)

    @cached_property
    def seen_users(self) -> SeenUserStore:
        return SeenUserStore(self.settings.interactions_table)

    @cached_property
    def stored_lists(self) -> PrecomputedListStore:
        return PrecomputedListStore(self.settings.interactions_table)

    @cached_property
    def exposures(self) -> ExposureStore:
        return ExposureStore(self.settings.exposures_table)

    @cached_property
    def registry(self) -> ModelRegistry:
        return ModelRegistry(self.settings.models_table)

    @cached_property
    def jobs(self) -> JobStore:
        return JobStore(self.settings.models_table)

    @cached_property
    def markers(self) -> TrainedMarkerStore:
        return TrainedMarkerStore(self.settings.models_table)

    @cached_property
    def nightly(self) -> "NightlySettingStore":
        from .batch.store import NightlySettingStore

        return NightlySettingStore(self.settings.tenants_table)

    @cached_property
    def artefacts(self) -> ArtefactStore:
        return ArtefactStore(self.settings.model_bucket)

    @cached_property
    def usage(self) -> UsageStore:
        return UsageStore(self.settings.usage_table)

    @cached_property
    def daily_counters(self) -> DailyCounterStore:
        return DailyCounterStore(self.settings.usage_table)

    @cached_property
    def analytics(self) -> "AnalyticsDeps":
        from .analytics.service import AnalyticsDeps

        return AnalyticsDeps(self.daily_counters, self.usage.totals, self.registry.versions)

    @cached_property
    def decisioning(self) -> "DecisioningStore":
        from .decisioning.store import DecisioningStore

        return DecisioningStore(self.settings.models_table)

    @cached_property
    def assignments(self) -> "AssignmentStore":
        from .decisioning.store import AssignmentStore

        return AssignmentStore(self.settings.exposures_table)

    # ------------------------------------------------------------------ services' dependencies
    @cached_property
    def secrets(self) -> "SecretStore":
        from .attribution.secret import SecretStore

        return SecretStore()

    @cached_property
    def pseudonyms(self) -> Pseudonyms:
        """The pseudonym key, read from Secrets Manager once per execution environment (only the
        functions that pseudonymise are given PSEUDONYM_SECRET_ID and the grant to read it)."""
        secret_id = self.settings.require("pseudonym_secret_id", "pseudonymising callers")
        return Pseudonyms(self.secrets.pseudonym_key(secret_id))

    @cached_property
    def tenant_resolver(self) -> "TenantResolver":
        from .tenancy.service import TenantResolver

        return TenantResolver(self.api_keys, self.tenants, self.settings.tenant_cache_s)

    def resolve_tenant(self, api_key_id: str | None) -> Tenant:
        return self.tenant_resolver.resolve(api_key_id)

    def resolve_key_value(self, value: str | None) -> Tenant:
        """A key value's tenant on a route where API Gateway checked no key (401 if unknown or revoked)."""
        return self.tenant_resolver.resolve_value(value)

    def item_limit(self, tenant: Tenant) -> CountLimit:
        return item_limit(self.usage, tenant)

    def user_limit(self, tenant: Tenant) -> CountLimit:
        return user_limit(self.usage, tenant)

    @cached_property
    def models(self) -> "ModelCache":
        from .models.serving import MB, ModelCache

        return ModelCache(self.registry, self.artefacts, self.settings.model_cache_dir, self.settings.model_refresh_s,
                          memory_budget=self.settings.model_cache_memory_mb * MB,
                          disk_budget=self.settings.model_cache_disk_mb * MB)

    @cached_property
    def popularity(self) -> "PopularityCache":
        from .models.serving import PopularityCache

        return PopularityCache(self.interactions, self.settings.model_refresh_s)

    @cached_property
    def ranking(self) -> "Deps":
        from .ranking.serve import Deps

        from .portal.users import may_personalise

        end_users = self.end_users
        return Deps(self.models, self.interactions, self.items, self.popularity, self.exposures, self.stored_lists,
                    personalise=lambda tenant_id, user_id: may_personalise(end_users, tenant_id, user_id))

    @cached_property
    def recommending(self) -> "RecommendDeps":
        from .ranking.service import RecommendDeps

        return RecommendDeps(self.ranking, self.usage, self.pseudonyms, self.registry, self.settings.request_budget_ms)

    @cached_property
    def deciding(self) -> "DecisioningDeps":
        """Recommend under the tenant's decision flows and experiments (recengine.decisioning.serving)."""
        from .decisioning.config import ConfigCache
        from .decisioning.serving import DecisioningDeps

        return DecisioningDeps(self.recommending, ConfigCache(self.decisioning, self.settings.decisioning_cache_s),
                               self.assignments)

    @cached_property
    def similar(self) -> "SimilarDeps":
        from .ranking.similar import SimilarDeps

        return SimilarDeps(self.models, self.items, self.usage, self.popularity)

    @cached_property
    def ingesting(self) -> IngestDeps:
        return IngestDeps(self.interactions, self.seen_users, self.pseudonyms, self.usage, self.daily_counters)

    @cached_property
    def job_timeouts(self) -> JobTimeouts:
        return JobTimeouts(self.settings.job_timeout_s, self.settings.queued_timeout_s)

    @cached_property
    def training(self) -> "TrainingStores":
        from .models.training import TrainingStores

        from .portal.users import inactive_user_ids

        end_users = self.end_users
        return TrainingStores(self.interactions, self.items, self.registry, self.artefacts, self.markers,
                              excluded_users=lambda tenant_id: inactive_user_ids(end_users, tenant_id))

    @cached_property
    def training_policy(self) -> "TrainingPolicy":
        from .models.training import TrainingPolicy

        return TrainingPolicy(self.settings.promotion_tolerance, self.settings.keep_model_versions)

    @cached_property
    def training_launcher(self) -> "Launcher":
        """How a training job reaches the train function (TRAIN_LAUNCH): a message on its SQS queue
        (AWS, and the local stack's worker process), or run inline (tests)."""
        from .models.jobs import inline_launcher

        if self.settings.train_launch == "sqs":
            from .aws.queue import QueueSender

            send = QueueSender(self.settings.require("train_queue_url", "starting a training job"))
            return lambda tenant_id, job_id: send([{"tenant_id": tenant_id, "job_id": job_id}])
        return inline_launcher(self.run_training_job)

    @cached_property
    def spark_runs(self) -> "SparkRunStore":
        from .models.spark_runs import SparkRunStore

        return SparkRunStore(self.settings.require("spark_application_id", "training on EMR Serverless"))

    @cached_property
    def spark_launcher(self) -> "SparkLauncher | None":
        """How the dispatcher starts a Spark training (SPARK_APPLICATION_ID set), else None: tenants
        too large for a Lambda are then reported, not trained."""
        if self.settings.spark_application_id is None:
            return None
        from .models.spark_training import SPARK_CODE_PREFIX, SparkConfig, queue_spark_training

        bucket = self.settings.model_bucket
        config = SparkConfig(self.settings.require("spark_job_role_arn", "training on EMR Serverless"),
                             f"s3://{bucket}/{SPARK_CODE_PREFIX}", bucket, self.settings.spark_job_timeout_min)
        tables = (self.settings.interactions_table, self.settings.items_table)
        return lambda tenant_id, events: queue_spark_training(
            self.training, self.jobs, self.spark_runs, config, tables, tenant_id, events=events,
            timeouts=self.job_timeouts)

    def complete_spark_run(self, run_id: str) -> dict | None:
        from .models.spark_training import complete_spark_run
        return complete_spark_run(self.training, self.jobs, self.spark_runs, run_id, policy=self.training_policy)

    def sweep_spark_runs(self) -> dict:
        from .models.spark_training import sweep_spark_runs
        return sweep_spark_runs((t.tenant_id for t in self.tenants.list_tenants()), self.training, self.jobs,
                                self.spark_runs, policy=self.training_policy)

    def run_training_job(self, tenant_id: str, job_id: str) -> dict:
        from .models.jobs import run_training_job
        return run_training_job(self.training, self.jobs, tenant_id, job_id, policy=self.training_policy)

    @cached_property
    def batch_dispatcher(self) -> "Dispatcher":
        """How batch chunks reach the workers (BATCH_DISPATCH): SQS messages to the batch worker
        function (AWS, and the local stack's worker process), or processed inline (tests)."""
        from .batch.service import inline_dispatcher

        if self.settings.batch_dispatch == "sqs":
            from .aws.queue import QueueSender

            return QueueSender(self.settings.require("batch_queue_url", "starting a batch job"))
        return inline_dispatcher(self.process_chunk)

    def process_chunk(self, message: dict) -> str:
        from .batch.service import process_chunk

        return process_chunk(self.ranking, self.jobs, self.stored_lists, self.artefacts, message)

    @cached_property
    def erasure(self) -> "ErasureStores":
        from .batch.outputs import BatchOutputStore
        from .users.erasure import ErasureStores

        return ErasureStores(self.interactions, self.seen_users, self.usage, self.exposures, self.pseudonyms,
                             self.stored_lists, BatchOutputStore(self.settings.model_bucket), self.jobs, self.markers,
                             self.daily_counters)

    @cached_property
    def erasure_launcher(self) -> "ErasureLauncher":
        """How an erasure job reaches the erasure worker: a message on its SQS queue (AWS, and the
        local stack's worker process; tests drain the queue)."""
        from .aws.queue import QueueSender

        send = QueueSender(self.settings.require("erasure_queue_url", "starting a user erasure"))
        return lambda tenant_id, job_id: send([{"tenant_id": tenant_id, "job_id": job_id}])

    def run_erasure_job(self, tenant_id: str, job_id: str) -> dict:
        from .users.erasure import run_erasure_job

        return run_erasure_job(self.erasure, tenant_id, job_id, timeouts=self.job_timeouts)

    # ------------------------------------------------------------------ portal
    @cached_property
    def portal_accounts(self) -> "CognitoAccounts":
        from .portal.accounts import CognitoAccounts

        return CognitoAccounts(self.settings.require("cognito_user_pool_id", "portal accounts"),
                               self.settings.require("cognito_client_id", "portal accounts"))

    @cached_property
    def token_verifier(self) -> "TokenVerifier":
        from .portal.tokens import verifier_from_settings

        return verifier_from_settings(self.settings)

    @cached_property
    def end_users(self) -> "EndUserStore":
        from .portal.end_users import EndUserStore

        return EndUserStore(self.settings.interactions_table)

    def tenant_by_id(self, tenant_id: str) -> Tenant:
        """A portal token's tenant (its id verified by the authorizer); 401 if it no longer exists."""
        from .errors import UnauthorizedError

        tenant = self.tenants.get_tenant(tenant_id) if tenant_id else None
        if tenant is None:
            raise UnauthorizedError("the token's tenant does not exist")
        return tenant

    @cached_property
    def payments(self) -> "PaymentProvider | None":
        """Stripe when the deployment names its key's secret (else None: 501); the key is read from
        Secrets Manager on the first checkout or portal call, once per execution environment."""
        secret_id = self.settings.stripe_secret_id
        if secret_id is None:
            return None
        from .billing.customers import CustomerStore
        from .billing.stripe_provider import MIN_KEY_LENGTH, StripeConfig, StripeProvider

        config = StripeConfig(self.settings.require("billing_return_url", "Stripe checkout and portal"),
                              api_base=self.settings.stripe_api_base)
        return StripeProvider(lambda: self.secrets.secret_string(secret_id, "the Stripe key", MIN_KEY_LENGTH),
                              CustomerStore(self.settings.tenants_table), config, client=self.stripe_client)


_lock = threading.Lock()
_runtime: Runtime | None = None


def runtime() -> Runtime:
    """The process-wide runtime (built on first request, reused while the Lambda is warm)."""
    global _runtime
    with _lock:
        if _runtime is None:
            _runtime = Runtime(settings())
        return _runtime


def reset_runtime() -> None:
    """Forgets the runtime and the settings (tests start each case with fresh mocks and environment)."""
    global _runtime
    with _lock:
        _runtime = None
    settings.cache_clear()


def key_or_token_api() -> "Api":
    """Routes taking an API key or a portal token: tenant by token, key value or key id (ADR 0005)."""
    from .http.app import Api

    return Api(lambda key_id: runtime().resolve_tenant(key_id), lambda tenant_id: runtime().tenant_by_id(tenant_id),
               lambda value: runtime().resolve_key_value(value))
