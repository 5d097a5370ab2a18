"""Errors of the models domain."""

from ..errors import NotFoundError


class ModelNotFoundError(NotFoundError):
    """No such model version for this tenant (404 `/problems/model-not-found`)."""

    code = "model-not-found"
