"""The stores and caches one execution environment needs, built once from settings."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from ..config import Settings, settings
from ..stores.artefacts import ArtefactStore
from ..stores.dynamo import InteractionStore, ItemStore, ModelRegistry, TenantStore
from ..stores.usage import UsageStore

if TYPE_CHECKING:
    from .billing import PaymentProvider


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
