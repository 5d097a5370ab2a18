"""Which deployment the admin CLI acts on: a deployed stack (by name), the running local stack (its
state file), or plain environment variables."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from recengine.billing.plans import PLANS
from .aws import stack_outputs

STATE_ENV = "RECENGINE_LOCAL_STATE"
STATE_RELATIVE = Path(".local-stack") / "state.json"


@dataclass(frozen=True)
class Target:
    tenants_table: str
    usage_table: str | None
    plan_ids: dict[str, str]  # plan id -> API Gateway usage plan id
    source: str
    endpoint_url: str | None = None
    region: str | None = None
    state_file: Path | None = None  # the local stack's; touched after key changes
    extra: dict[str, Any] = field(default_factory=dict)

    def keys_changed(self) -> None:
        """Tells a running local gateway to re-read API keys now (it watches the state file)."""
        if self.state_file is None or not self.state_file.exists():
            return
        state = json.loads(self.state_file.read_text())
        state["keys_changed_at"] = time.time()
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        tmp.replace(self.state_file)


def _check_plans(plan_ids: dict[str, str], where: str) -> dict[str, str]:
    missing = sorted(set(PLANS) - set(plan_ids))
    if missing:
        raise ValueError(f"{where} names no usage plan for: {', '.join(missing)}")
    return {p: plan_ids[p] for p in PLANS}


def from_stack(stack_name: str, region: str | None = None, cloudformation: Any = None) -> Target:
    outputs = stack_outputs(stack_name, cloudformation, region)
    try:
        tenants = outputs["TenantsTableName"]
    except KeyError:
        raise ValueError(f"stack {stack_name!r} has no TenantsTableName output") from None
    plan_ids = {p: outputs[f"{p.capitalize()}UsagePlanId"] for p in PLANS if f"{p.capitalize()}UsagePlanId" in outputs}
    return Target(tenants, outputs.get("UsageTableName"), _check_plans(plan_ids, f"stack {stack_name!r}"),
                  f"stack {stack_name}", region=region, extra={"api_id": outputs.get("ApiId")})


def default_state_file(cwd: Path | None = None) -> Path:
    if os.environ.get(STATE_ENV):
        return Path(os.environ[STATE_ENV])
    here = (cwd or Path.cwd()) / STATE_RELATIVE
    if here.exists():
        return here
    # A checkout: layers/engine/recengine/admin/target.py -> repository root.
    return Path(__file__).resolve().parents[4] / STATE_RELATIVE


def from_state_file(path: Path | None = None) -> Target:
    path = path or default_state_file()
    if not path.exists():
        raise ValueError(f"no local stack state at {path}: is `make run` running?")
    state = json.loads(path.read_text())
    env = state["env"]
    return Target(env["TENANTS_TABLE"], env.get("USAGE_TABLE"), _check_plans(state["usage_plan_ids"], str(path)),
                  "local", endpoint_url=state.get("endpoint_url"), region=state.get("region"), state_file=path,
                  extra={"api_id": state.get("api_id"), "base_url": state.get("base_url")})


def _parse_plan_ids(raw: str) -> dict[str, str]:
    raw = raw.strip()
    if raw.startswith("{"):
        return dict(json.loads(raw))
    return dict(part.split("=", 1) for part in raw.split(",") if part.strip())


def from_env(env: Mapping[str, str] | None = None) -> Target:
    env = os.environ if env is None else env
    missing = [v for v in ("TENANTS_TABLE", "USAGE_PLAN_IDS") if not env.get(v)]
    if missing:
        raise ValueError(f"missing environment variables: {', '.join(missing)} "
                         "(or pass --stack-name NAME, or --local)")
    return Target(env["TENANTS_TABLE"], env.get("USAGE_TABLE"),
                  _check_plans(_parse_plan_ids(env["USAGE_PLAN_IDS"]), "USAGE_PLAN_IDS"), "env")
