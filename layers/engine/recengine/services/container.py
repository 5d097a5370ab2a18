"""The stores and caches one execution environment needs, built once from settings."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from ..config import Settings, settings
from ..stores.artefacts import ArtefactStore
from ..stores.dynamo import ExposureStore, InteractionStore, ItemStore, ModelRegistry, TenantStore
from ..stores.usage import UsageStore

if TYPE_CHECKING:
    from .batch import Dispatcher
    from .billing import PaymentProvider
    from .serving import ModelCache, PopularityCache
    from .tenancy import TenantResolver
    from .training import Launcher, TrainingPolicy

LAUNCH_MODES = ("lambda", "thread", "inline")


@dataclass
class Container:
    settings: Settings

    @cached_property
    def tenants(self) -> TenantStore:
        return TenantStore(self.settings.tenants_table)

    @cached_property
    def items(self) -> ItemStore:
        return ItemStore(self.settings.items_table)

    @cached_property
    def interactions(self) -> InteractionStore:
        return InteractionStore(self.settings.interactions_table, self.settings.sessions_table)

    @cached_property
    def exposures(self) -> ExposureStore:
        return ExposureStore(self.settings.exposures_table)

    @cached_property
    def registry(self) -> ModelRegistry:
        return ModelRegistry(self.settings.models_table)

    @cached_property
    def artefacts(self) -> ArtefactStore:
        return ArtefactStore(self.settings.model_bucket)

    @cached_property
    def models(self) -> "ModelCache":
        from .serving import ModelCache

        return ModelCache(self.registry, self.artefacts, self.settings.model_cache_dir, self.settings.model_refresh_s)

    @cached_property
    def popularity(self) -> "PopularityCache":
        from .serving import PopularityCache

        return PopularityCache(self.interactions, self.settings.model_refresh_s)

    @cached_property
    def training_policy(self) -> "TrainingPolicy":
        from .training import TrainingPolicy

        return TrainingPolicy.from_env()

    @cached_property
    def training_launcher(self) -> "Launcher":
        """How `POST /v1/models/train` starts its job, by TRAIN_LAUNCH: `lambda` (the default: an
        asynchronous invoke of TRAIN_FUNCTION_NAME), `thread` (the local stack) or `inline` (tests)."""
        from .training import inline_launcher, run_training_job, thread_launcher

        mode = os.environ.get("TRAIN_LAUNCH") or "lambda"
        if mode not in LAUNCH_MODES:
            raise RuntimeError(f"TRAIN_LAUNCH must be one of {', '.join(LAUNCH_MODES)}, not {mode!r}")
        if mode == "lambda":
            from ..stores.functions import AsyncInvoker

            return AsyncInvoker(os.environ.get("TRAIN_FUNCTION_NAME", ""))

        def run(tenant_id: str, job_id: str) -> None:
            run_training_job(self.tenants, self.interactions, self.registry, self.artefacts, tenant_id, job_id,
                             items=self.items, policy=self.training_policy)

        return thread_launcher(run) if mode == "thread" else inline_launcher(run)

    @cached_property
    def batch_dispatcher(self) -> "Dispatcher":
        """How batch chunks reach the workers, by BATCH_DISPATCH: `sqs` (the default: messages to
        BATCH_QUEUE_URL, consumed by the batch worker function) or `inline` (local stack, tests)."""
        from .batch import inline_dispatcher, process_chunk

        mode = os.environ.get("BATCH_DISPATCH") or "sqs"
        if mode == "sqs":
            from ..stores.functions import QueueSender

            return QueueSender(os.environ.get("BATCH_QUEUE_URL", ""))
        if mode != "inline":
            raise RuntimeError(f"BATCH_DISPATCH must be sqs or inline, not {mode!r}")
        return inline_dispatcher(lambda message: process_chunk(self.models, self.interactions, self.items,
                                                               self.artefacts, self.registry, message))

    @cached_property
    def usage(self) -> UsageStore:
        return UsageStore(self.settings.usage_table)

    @cached_property
    def payments(self) -> "PaymentProvider | None":
        # No payment provider is reachable from this deployment: checkout answers 501 until one is
        # wired in here. Tests set an InMemoryPaymentProvider; nothing fakes a real payment.
        return None

    @cached_property
    def tenant_cache(self) -> "TenantResolver":
        from .tenancy import TenantResolver

        return TenantResolver(self.tenants, self.settings.tenant_cache_s)


_lock = threading.Lock()
_container: Container | None = None


def container() -> Container:
    """The process-wide container (built on first request, reused while the Lambda is warm)."""
    global _container
    with _lock:
        if _container is None:
            _container = Container(settings())
        return _container


def reset_container() -> None:
    global _container
    with _lock:
        _container = None
    settings.cache_clear()
