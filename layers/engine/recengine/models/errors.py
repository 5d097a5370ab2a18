"""Errors of the models domain."""

from ..errors import NotFoundError, StoreError


class ModelNotFoundError(NotFoundError):
    """No such model version for this tenant (404 `/problems/model-not-found`)."""

    code = "model-not-found"


class DiskFullError(StoreError):
    """The local disk had no room for an artefact being downloaded (ENOSPC)."""


class ModelUnavailableError(StoreError):
    """A model version cannot be served from this process: its download failed, its artefact is
    unreadable, or it does not fit the cache's budgets. The serving cache answers with the previous
    version (or popularity) instead; `reason` is a short stable label for the metric and the log."""

    code = "model-unavailable"

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason
