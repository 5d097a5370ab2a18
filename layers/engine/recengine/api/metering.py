"""Metering and plan limits at the edge: one line in each metered or counted route."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from aws_lambda_powertools import Logger

from ..errors import StoreError
from ..services import billing
from ..services.container import container
from ..stores.dynamo import Tenant

logger = Logger(child=True)


@contextmanager
def metered(tenant: Tenant) -> Iterator[None]:
    """Counts one metered call before the work (402 if the overage budget is spent, and then nothing
    is counted); if the work then fails, the call is taken back, so only answered calls are billed."""
    usage = container().usage
    period = billing.meter_call(usage, tenant)
    try:
        yield
    except Exception:
        try:
            billing.unmeter_call(usage, tenant, period)
        except StoreError:
            logger.warning("could not take back a failed metered call", extra={"tenant_id": tenant.tenant_id})
        raise


def item_limit(tenant: Tenant) -> billing.CountLimit:
    """The tenant's plan limit on catalogue items, for catalogue.upsert_items."""
    return billing.item_limit(container().usage, tenant)


def user_limit(tenant: Tenant) -> billing.CountLimit:
    """The tenant's plan limit on distinct users, for ingest.record_interactions."""
    return billing.user_limit(container().usage, tenant)
