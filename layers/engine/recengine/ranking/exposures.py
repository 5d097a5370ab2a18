"""Every served list is an exposure: one exposure.v1 record per list, to the exposure table (the
frequency cap reads it back) and to the structured log (nothing is lost if the table write fails)."""

from __future__ import annotations

import time

from ..attribution.records import exposure_record
from ..attribution.service import Pseudonyms
from ..attribution.store import ExposureStore
from ..concurrency import attempt, gather
from ..observability import logger
from .query import Query, warn
from .serve import Result


def log_exposures(store: ExposureStore | None, pseudonyms: Pseudonyms, q: Query, result: Result, request_id: str,
                  now: float | None = None) -> dict | None:
    """Writes one exposure per served list (table + structured log line); a failed write loses
    nothing (the log line holds the record) and answers a warning instead of failing the request."""
    now = time.time() if now is None else now
    failed = False
    session_key = pseudonyms.user_key(q.tenant_id, None, q.session_id)
    records = []
    for served in result.lists:
        if not served.items:
            continue
        try:
            record = exposure_record(request_id=request_id, tenant_id=q.tenant_id, user_key=q.user_key,
                                     session_key=session_key,
                                     surface=q.surface, placement=served.placement, model_id=result.model_id,
                                     algorithm=result.source, items=served.items, ts=now, context=q.context)
        except ValueError as exc:  # a record the schema would refuse: say so, keep serving
            failed = True
            logger.warning("exposure not recorded", extra={"tenant_id": q.tenant_id, "request_id": request_id,
                                                           "error": str(exc)})
            continue
        logger.info("exposure", extra={"exposure": record})
        records.append(record)
    if store is not None and records:  # one round trip: every list's exposure written together
        for _, error in gather(*(attempt(lambda r=r: store.put(r), None) for r in records)):
            if error is not None:
                failed = True
                logger.warning("exposure not stored", extra={"tenant_id": q.tenant_id, "request_id": request_id,
                                                             "error": str(error)})
    if failed:
        return warn("exposure_not_stored", "the exposure could not be stored (it is in the service log); "
                    "frequency caps may miss this list")
    return None
