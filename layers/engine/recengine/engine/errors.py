"""Exceptions raised by the pure engine."""


class EngineError(Exception):
    """Base class for engine failures."""


class NotFittedError(EngineError):
    """A model was used before it was trained or loaded."""


class ArtefactError(EngineError):
    """A model artefact is missing, corrupt or of an unknown format."""


class EmptyTrainingSetError(EngineError):
    """There is nothing to learn from (no interactions)."""
