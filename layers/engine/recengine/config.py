"""Settings read once from the environment at the edge; a missing variable fails loudly."""

from __future__ import annotations

import os
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    items_table: str = Field(min_length=1)
    interactions_table: str = Field(min_length=1)
    sessions_table: str = Field(min_length=1)
    exposures_table: str = Field(min_length=1)
    models_table: str = Field(min_length=1)
    tenants_table: str = Field(min_length=1)
    usage_table: str = Field(min_length=1)
    model_bucket: str = Field(min_length=1)
    model_cache_dir: str = Field(min_length=1)
    model_refresh_s: float = 60.0
    tenant_cache_s: float = 60.0
    request_budget_ms: int = 5000  # recommend answers 408 past this (a request may ask for less)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env
        names = ("items_table", "interactions_table", "sessions_table", "exposures_table", "models_table", "tenants_table",
                 "usage_table", "model_bucket", "model_cache_dir")
        missing = [n.upper() for n in names if not env.get(n.upper())]
        if missing:
            raise RuntimeError(f"missing environment variables: {', '.join(missing)}")
        values = {n: env[n.upper()] for n in names}
        for optional in ("model_refresh_s", "tenant_cache_s", "request_budget_ms"):
            if env.get(optional.upper()):
                values[optional] = env[optional.upper()]
        try:
            return cls(**values)
        except ValidationError as exc:
            raise RuntimeError(f"invalid settings: {exc}") from exc


@lru_cache(maxsize=1)
def settings() -> Settings:
    """The process-wide settings, read on first use (never at import)."""
    return Settings.from_env()
