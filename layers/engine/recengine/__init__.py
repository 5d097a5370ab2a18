"""recengine: a multi-tenant recommendation engine (pure engine, services and AWS stores)."""

__version__ = "0.1.0"
